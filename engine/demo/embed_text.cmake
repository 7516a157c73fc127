# cmake -DINPUT=file -DOUTPUT=file.cc -P embed_text.cmake: writes INPUT's bytes as a char array
# (escaped, so that no byte of the text can break the C++ source) behind EmbeddedDemoCorpus().
file(READ ${INPUT} hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
set(lines "")
set(offset 0)
while(offset LESS hex_length)
  string(SUBSTRING "${hex}" ${offset} 32 chunk)  # 16 bytes a line
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1', " chunk "${chunk}")
  string(APPEND lines "    ${chunk}\n")
  math(EXPR offset "${offset} + 32")
endwhile()
file(WRITE ${OUTPUT}.tmp
"// Generated from ${INPUT} by engine/demo/embed_text.cmake; do not edit.\n"
"#include <string_view>\n\n"
"#include \"engine/demo/demo_corpus.h\"\n\n"
"namespace streamdit::engine {\nnamespace {\n\n"
"constexpr char kCorpus[${size} + 1] = {\n${lines}    '\\0'};\n\n"
"}  // namespace\n\n"
"std::string_view EmbeddedDemoCorpus() { return std::string_view(kCorpus, ${size}); }\n\n"
"}  // namespace streamdit::engine\n")
# Only a changed text touches the generated file (and recompiles it).
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUTPUT}.tmp)
