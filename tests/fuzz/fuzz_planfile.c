/* libFuzzer target: the Planfile loader on any bytes, then the graph
 * and each task's settings (fuzz.h). */
#include "fuzz.h"
#include "parser.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_plan(parser_load_mem, "Planfile", data, size);
}
