/*
 * fuzz: the libFuzzer entry point every target defines. Built with clang's
 * -fsanitize=fuzzer by `make fuzz`, or with replay.c as main to run a seed
 * corpus under the sanitizers without libFuzzer (`make check`).
 */
#ifndef HOOKD_FUZZ_H
#define HOOKD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
