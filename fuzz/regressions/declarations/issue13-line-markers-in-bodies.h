enum e {
# 12 "x.h"
 A,
# 13 "x.h" 2
 B };
struct s { int
# 5 "y.h"
 x; };
int f(int
#line 7
, char);
