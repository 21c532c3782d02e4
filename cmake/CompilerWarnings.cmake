# actoken_warnings: the warning set every first-party target links.
option(ACTOKEN_WARNINGS_AS_ERRORS "Treat compiler warnings as errors (scripts/test turns this on)" OFF)

add_library(actoken_warnings INTERFACE)
target_compile_options(actoken_warnings INTERFACE
  -Wall -Wextra -Wshadow -Wconversion -Wsign-conversion -Wpedantic
  -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough
  # g++ 12 reports Asio's coroutine frames and io_context internals falsely
  # under these two (they are instantiated in our files, so SYSTEM does not help).
  -Wno-mismatched-new-delete -Wno-null-dereference)
if(ACTOKEN_WARNINGS_AS_ERRORS)
  target_compile_options(actoken_warnings INTERFACE -Werror)
endif()
