/* Placeholder until the json module's tests land. */
#include "unit.h"

void
test_json(void)
{
}
