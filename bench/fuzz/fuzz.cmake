# The libFuzzer build (bench/fuzz/run.sh): included by the top-level CMakeLists.txt
# only with -DRELATE_FUZZ=ON, before the libraries are defined, so that every relate
# library the targets link is compiled with coverage instrumentation and sanitizers.
# Needs clang (Debian: clang-14 libclang-rt-14-dev libomp-14-dev).
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "relate: RELATE_FUZZ needs clang (libFuzzer); configure with "
                      "-DCMAKE_CXX_COMPILER=clang++")
endif()
# fuzzer-no-link: coverage feedback for the fuzzer, without libFuzzer's main().
# UB stops the run like a crash, so the fuzzer reports it with its input.
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
                    -fno-omit-frame-pointer -Wno-pass-failed)
add_link_options(-fsanitize=address,undefined)
# The vector readers start with a 64-byte buffer instead of 1 MiB (embed/vector_readers.cc).
add_compile_definitions(RELATE_FUZZ_SMALL_READS)
add_subdirectory(${CMAKE_CURRENT_LIST_DIR} ${PROJECT_BINARY_DIR}/bench/fuzz)
