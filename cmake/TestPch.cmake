# Precompiled headers for the test programs (scripts/test's ASan+UBSan build
# turns them on): the headers nearly every test includes (doctest,
# nlohmann/json, the standard library's usual ones) are parsed once per build
# into the precompiled header of actoken_test_pch, and every test program
# reuses it (REUSE_FROM): about 0.5-1 s of CPU less per test file.
#
# Not in the first build: a precompiled header puts its headers before each
# file's own includes, and at -O2 that moves g++ 12's flow-based warnings
# (test_auth_codec got a false -Warray-bounds from std::string's memcpy), so
# the warnings a test gets would depend on this option. Off by default, too,
# because a precompiled header holds its build folder's paths: ccache shared
# between work trees would miss every test file of a new folder. With it on,
# ccache is told to accept precompiled headers (pch_defines, time_macros).
# The precompiled header is built with the flags of the tests that reuse it:
# they all link actoken_project_options and the sanitizer flags are the same
# for the whole build (-Winvalid-pch, an error under -Werror, says if not).
option(ACTOKEN_TEST_PCH "Precompile the headers the test programs share" OFF)

# actoken_test_pch_holder(TARGET LIBS...): an object library TARGET, linking
# LIBS, that makes the precompiled header; its one source is empty.
function(actoken_test_pch_holder target)
  if(NOT ACTOKEN_TEST_PCH)
    return()
  endif()
  set(source "${CMAKE_CURRENT_BINARY_DIR}/${target}.cpp")
  file(CONFIGURE OUTPUT "${source}"
    CONTENT "// Compiled with the precompiled header the test programs reuse.\n")
  add_library(${target} OBJECT "${source}")
  target_link_libraries(${target} PRIVATE ${ARGN})
  target_precompile_headers(${target} PRIVATE
    <doctest/doctest.h> <nlohmann/json.hpp>
    <algorithm> <chrono> <cstdlib> <cstring> <filesystem> <fstream> <functional>
    <map> <memory> <optional> <set> <sstream> <stdexcept> <string> <string_view>
    <thread> <vector>)
  set_property(GLOBAL PROPERTY actoken_test_pch_holder ${target})
endfunction()

# actoken_test_pch_reuse(TARGET): TARGET's sources use the holder's header.
function(actoken_test_pch_reuse target)
  get_property(holder GLOBAL PROPERTY actoken_test_pch_holder)
  if(ACTOKEN_TEST_PCH AND holder)
    target_precompile_headers(${target} REUSE_FROM ${holder})
  endif()
endfunction()

# ccache takes a file built with a precompiled header only with this sloppiness
# (otherwise it compiles it every time). Only the targets of the calling
# directory and below (tests/) get it.
if(ACTOKEN_TEST_PCH AND CMAKE_CXX_COMPILER_LAUNCHER STREQUAL ACTOKEN_CCACHE)
  set(CMAKE_CXX_COMPILER_LAUNCHER
    ${CMAKE_COMMAND} -E env CCACHE_SLOPPINESS=pch_defines,time_macros ${ACTOKEN_CCACHE})
endif()
