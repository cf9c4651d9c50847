/* libFuzzer target: the plan.yaml loader on any bytes, then the graph
 * and each task's settings (fuzz.h). */
#include "fuzz.h"
#include "yamlplan.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_plan(yamlplan_load_mem, "plan.yaml", data, size);
}
