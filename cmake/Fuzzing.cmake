# actoken_fuzzing: the libFuzzer build (tests/fuzz). With ACTOKEN_BUILD_FUZZERS
# every first-party target gets coverage instrumentation plus ASan and UBSan
# (through actoken_sanitizers, which actoken_project_options and actoken_asio
# both link), so the libraries a fuzzer links report what the fuzzer finds. Only
# the fuzz executables link libFuzzer's main (-fsanitize=fuzzer, tests/fuzz).
# Needs clang:  CC=clang CXX=clang++ cmake -B build/fuzz -DACTOKEN_BUILD_FUZZERS=ON
option(ACTOKEN_BUILD_FUZZERS "Build the libFuzzer targets in tests/fuzz (needs clang)" OFF)

add_library(actoken_fuzzing INTERFACE)
if(ACTOKEN_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "ACTOKEN_BUILD_FUZZERS needs clang: configure a fresh build folder with "
                        "CC=clang CXX=clang++ (this one uses ${CMAKE_CXX_COMPILER_ID})")
  endif()
  if(ACTOKEN_ENABLE_ASAN OR ACTOKEN_ENABLE_UBSAN OR ACTOKEN_ENABLE_TSAN)
    message(FATAL_ERROR "ACTOKEN_BUILD_FUZZERS brings its own ASan and UBSan: "
                        "leave the ACTOKEN_ENABLE_*SAN options off")
  endif()
  target_compile_options(actoken_fuzzing INTERFACE
    -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
    -fno-omit-frame-pointer
    # clang 14 cannot emit -fsanitize=function's prologue data for coroutine
    # frames ("Cannot represent a difference across sections").
    -fno-sanitize=function
    # Fortified libc calls bypass ASan's interceptors; let ASan see them.
    -U_FORTIFY_SOURCE)
  target_link_options(actoken_fuzzing INTERFACE -fsanitize=address,undefined)
  target_link_libraries(actoken_sanitizers INTERFACE actoken_fuzzing)
endif()
