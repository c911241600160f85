#line 18446744073709551616
int z;
# 9 "a.h" 1
#define BIG 0x1p99999999999
#define HEX 0x.p1
#define S "a" "\x41\101"
int w;
