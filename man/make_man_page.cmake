# cmake -DSCDOC=... -DGZIP=... -DSOURCE=page.N.scd -DTIDY=tidy.awk -DOUTPUT=page.N
#       -DVERSION=... -DSOURCE_DATE_EPOCH=... -P make_man_page.cmake
# Writes OUTPUT (roff) and OUTPUT.gz (gzip -9n, as Debian wants man pages).
set(ACTOKEN_VERSION "${VERSION}")
get_filename_component(folder "${OUTPUT}" DIRECTORY)
file(MAKE_DIRECTORY "${folder}")
configure_file("${SOURCE}" "${OUTPUT}.scd" @ONLY)
set(ENV{SOURCE_DATE_EPOCH} "${SOURCE_DATE_EPOCH}")
execute_process(COMMAND "${SCDOC}" INPUT_FILE "${OUTPUT}.scd" OUTPUT_FILE "${OUTPUT}.raw"
  ERROR_VARIABLE errors RESULT_VARIABLE result)
if(NOT result EQUAL 0 OR errors)
  message(FATAL_ERROR "scdoc ${SOURCE}: ${errors}")
endif()
execute_process(COMMAND awk -f "${TIDY}" "${OUTPUT}.raw" OUTPUT_FILE "${OUTPUT}"
  COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND "${GZIP}" -9n -c "${OUTPUT}" OUTPUT_FILE "${OUTPUT}.gz"
  COMMAND_ERROR_IS_FATAL ANY)
file(REMOVE "${OUTPUT}.scd" "${OUTPUT}.raw")
