# actoken_hardening: stack protector, fortify, full RELRO, PIE.
add_library(actoken_hardening INTERFACE)
target_compile_options(actoken_hardening INTERFACE
  -fstack-protector-strong -fstack-clash-protection -fPIE)
# _FORTIFY_SOURCE needs optimisation; skip it for -O0 builds.
target_compile_definitions(actoken_hardening INTERFACE
  $<$<NOT:$<CONFIG:Debug>>:_FORTIFY_SOURCE=2>)
target_link_options(actoken_hardening INTERFACE
  -pie -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack)
