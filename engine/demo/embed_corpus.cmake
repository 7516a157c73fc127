# Compiles assets/demo_corpus.txt into the engine (EmbeddedDemoCorpus(), engine/demo/demo_corpus.h)
# so that `streamdit demo-model` and the first-use demo model work from any folder. Included by
# engine/CMakeLists.txt after streamdit_engine is defined; the .cc is regenerated when the corpus
# changes.
set(DEMO_CORPUS_SOURCE ${PROJECT_SOURCE_DIR}/assets/demo_corpus.txt)
set(DEMO_CORPUS_GENERATED ${CMAKE_CURRENT_BINARY_DIR}/generated/demo_corpus_data.cc)
add_custom_command(
  OUTPUT ${DEMO_CORPUS_GENERATED}
  COMMAND ${CMAKE_COMMAND} -DINPUT=${DEMO_CORPUS_SOURCE} -DOUTPUT=${DEMO_CORPUS_GENERATED}
          -P ${CMAKE_CURRENT_LIST_DIR}/embed_text.cmake
  DEPENDS ${DEMO_CORPUS_SOURCE} ${CMAKE_CURRENT_LIST_DIR}/embed_text.cmake
  COMMENT "Embedding assets/demo_corpus.txt"
  VERBATIM)
target_sources(streamdit_engine PRIVATE ${DEMO_CORPUS_GENERATED})
