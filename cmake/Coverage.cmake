# actoken_coverage: clang source-based coverage, for scripts/coverage.
# Continuous mode (a `%c` in LLVM_PROFILE_FILE) keeps each process's counters in
# a file mapped from its start, so a daemon the tests end with SIGKILL still
# counts. On Linux, clang 14 supports it only with runtime counter relocation
# (-mllvm -runtime-counter-relocation); without it the runtime says
# "__llvm_profile_counter_bias is undefined" and writes an empty profile.
# Needs clang:  CC=clang CXX=clang++ cmake -B build/coverage -DACTOKEN_ENABLE_COVERAGE=ON
option(ACTOKEN_ENABLE_COVERAGE "Build with clang source-based coverage (scripts/coverage)" OFF)

add_library(actoken_coverage INTERFACE)
if(ACTOKEN_ENABLE_COVERAGE)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "ACTOKEN_ENABLE_COVERAGE needs clang: configure a fresh build folder with "
                        "CC=clang CXX=clang++ (this one uses ${CMAKE_CXX_COMPILER_ID})")
  endif()
  if(ACTOKEN_ENABLE_ASAN OR ACTOKEN_ENABLE_UBSAN OR ACTOKEN_ENABLE_TSAN OR ACTOKEN_BUILD_FUZZERS)
    message(FATAL_ERROR "ACTOKEN_ENABLE_COVERAGE is a build of its own: leave the sanitizer "
                        "and fuzzer options off")
  endif()
  # The profile's default path is built in, so processes started with a
  # cleaned environment (systemd-socket-activate, env -i, runuser) still write
  # theirs where scripts/coverage merges them; LLVM_PROFILE_FILE, when set,
  # wins. %p: one file per process; %c: continuous mode.
  set(ACTOKEN_COVERAGE_PROFILES "${CMAKE_BINARY_DIR}/profiles/%p%c.profraw")
  target_compile_options(actoken_coverage INTERFACE
    -fprofile-instr-generate=${ACTOKEN_COVERAGE_PROFILES} -fcoverage-mapping
    -mllvm -runtime-counter-relocation)
  target_link_options(actoken_coverage INTERFACE
    -fprofile-instr-generate=${ACTOKEN_COVERAGE_PROFILES})
  # Every first-party target links actoken_sanitizers (through
  # actoken_project_options or actoken_asio): it carries the instrumentation.
  target_link_libraries(actoken_sanitizers INTERFACE actoken_coverage)
endif()
