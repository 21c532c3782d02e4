# actoken_footprint: what keeps actokend small in memory (SPEC §7: at most
# 10 MiB resident after start and one exchange; figures in docs/performance.md).
#  - Each function and object in its own section: the linker drops the unused
#    ones and keeps start-up and cold code apart from the code that runs.
#  - libstdc++ and libgcc linked in: the binary maps the parts it uses instead
#    of the pages of the whole shared library (about 1.7 MiB resident). The
#    sanitizer and fuzzer builds keep the shared runtime their interceptors expect.
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
