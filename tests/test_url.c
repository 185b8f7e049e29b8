/* Placeholder until the url module's tests land. */
#include "unit.h"

void
test_url(void)
{
}
