# actoken_warnings: the warning set every first-party target links.
option(ACTOKEN_WARNINGS_AS_ERRORS "Treat compiler warnings as errors (scripts/test turns this on)" OFF)

add_library(actoken_warnings INTERFACE)
target_compile_options(actoken_warnings INTERFACE
  -Wall -Wextra -Wshadow -Wconversion -Wsign-conversion -Wpedantic
  -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
  -Wnull-dereference -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
if(ACTOKEN_WARNINGS_AS_ERRORS)
  target_compile_options(actoken_warnings INTERFACE -Werror)
endif()
