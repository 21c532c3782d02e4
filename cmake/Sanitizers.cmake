# actoken_sanitizers: ASan / UBSan / TSan, chosen at configure time.
option(ACTOKEN_ENABLE_ASAN "Build with AddressSanitizer" OFF)
option(ACTOKEN_ENABLE_UBSAN "Build with UndefinedBehaviorSanitizer" OFF)
option(ACTOKEN_ENABLE_TSAN "Build with ThreadSanitizer" OFF)

add_library(actoken_sanitizers INTERFACE)
set(_actoken_sanitizers "")
if(ACTOKEN_ENABLE_ASAN)
  list(APPEND _actoken_sanitizers address)
endif()
if(ACTOKEN_ENABLE_UBSAN)
  list(APPEND _actoken_sanitizers undefined)
endif()
if(ACTOKEN_ENABLE_TSAN)
  if(ACTOKEN_ENABLE_ASAN)
    message(FATAL_ERROR "TSan and ASan cannot be combined")
  endif()
  list(APPEND _actoken_sanitizers thread)
endif()
if(_actoken_sanitizers)
  list(JOIN _actoken_sanitizers "," _actoken_sanitizer_list)
  target_compile_options(actoken_sanitizers INTERFACE
    -fsanitize=${_actoken_sanitizer_list} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(actoken_sanitizers INTERFACE -fsanitize=${_actoken_sanitizer_list})
endif()

# The libFuzzer build adds its instrumentation to actoken_sanitizers.
include(Fuzzing)
# So does the coverage build (scripts/coverage).
include(Coverage)
