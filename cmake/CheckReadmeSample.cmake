# Fails unless README.md contains examples/readme_sample.cpp verbatim (the sample stays compiled).
file(READ "${README}" readme)
file(READ "${SAMPLE}" sample)
string(FIND "${readme}" "${sample}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "README.md does not contain ${SAMPLE} verbatim")
endif()
message(STATUS "README sample matches ${SAMPLE}")
