# actoken_footprint: what keeps actokend small in memory (SPEC §7: at most
# 10 MiB resident after start and one exchange; figures in docs/performance.md).
#  - Each function and object in its own section: the linker drops the unused
#    ones and keeps start-up and cold code apart from the code that runs.
#  - libstdc++ and libgcc linked in: the binary maps the parts it uses instead
#    of the pages of the whole shared library (about 1.7 MiB resident). The
#    sanitizer and fuzzer builds keep the shared runtime their interceptors expect.
#  - Release builds (scripts/bench, a packager's build) use -O2, Debian's own
#    level, instead of CMake's default -O3, and link-time optimisation: the
#    daemon's code is 2.6 MB instead of 3.3 MB, and since the kernel maps a
#    binary's pages 64 KiB around each one touched, that is about 0.6 MiB less
#    resident after one exchange, with the same throughput (docs/performance.md).
#    Only Release: with LTO every test's link would compile the code again.
add_library(actoken_footprint INTERFACE)
target_compile_options(actoken_footprint INTERFACE -ffunction-sections -fdata-sections)
# A coverage build keeps every function: one the linker dropped would vanish
# from the report instead of counting as not run.
if(NOT ACTOKEN_ENABLE_COVERAGE)
  target_link_options(actoken_footprint INTERFACE -Wl,--gc-sections)
endif()
if(NOT (ACTOKEN_ENABLE_ASAN OR ACTOKEN_ENABLE_UBSAN OR ACTOKEN_ENABLE_TSAN
        OR ACTOKEN_BUILD_FUZZERS))
  target_link_options(actoken_footprint INTERFACE -static-libstdc++ -static-libgcc)
endif()

if(CMAKE_BUILD_TYPE STREQUAL "Release" AND NOT ACTOKEN_ENABLE_COVERAGE)
  # Only CMake's own default is replaced: a -DCMAKE_CXX_FLAGS_RELEASE given
  # on the command line is kept as it is.
  if(CMAKE_CXX_FLAGS_RELEASE STREQUAL "-O3 -DNDEBUG")
    set(CMAKE_CXX_FLAGS_RELEASE "-O2 -DNDEBUG")
  endif()
  include(CheckIPOSupported)
  check_ipo_supported(RESULT actoken_ipo OUTPUT actoken_ipo_why LANGUAGES CXX)
  if(actoken_ipo)
    set(CMAKE_INTERPROCEDURAL_OPTIMIZATION ON)
  else()
    message(STATUS "link-time optimisation not available: ${actoken_ipo_why}")
  endif()
endif()
