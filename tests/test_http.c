/* Placeholder until the http module's tests land. */
#include "unit.h"

void
test_http(void)
{
}
