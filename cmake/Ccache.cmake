# Use ccache when it is installed: rebuilds on 2 cores stay short.
find_program(ACTOKEN_CCACHE ccache)
if(ACTOKEN_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${ACTOKEN_CCACHE}")
endif()
