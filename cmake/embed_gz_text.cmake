# embed_gz_text.cmake — decompress a .gz text asset (with the gzip program) and write it as a C
# array with a terminating NUL, so the library carries the data and needs no file at run time.
# Usage: cmake -DIN=file.gz -DOUT=file.c -DNAME=symbol -P embed_gz_text.cmake
get_filename_component(dir ${OUT} DIRECTORY)
set(tmp ${OUT}.txt)
execute_process(COMMAND gzip -dc ${IN} OUTPUT_FILE ${tmp} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "gzip -dc ${IN} failed (${rc})")
endif()
file(READ ${tmp} hex HEX)
file(REMOVE ${tmp})
string(LENGTH "${hex}" n)
math(EXPR bytes "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," arr "${hex}")
file(WRITE ${OUT} "/* generated from ${IN} by cmake/embed_gz_text.cmake */\n#include <stddef.h>\n"
  "const unsigned char ${NAME}[] = {${arr}0x00};\nconst size_t ${NAME}_size = ${bytes};\n")
