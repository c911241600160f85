# 18446744073709551615 "huge.h"
int x;

int y;
# 0 "zero.h"
int (;
