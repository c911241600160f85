enum e { A = 3 };
static const int a = 1 << 40, b = -(3 * 7);
static const unsigned char c = 300;
static const enum e d = A + 1;
static const float f = 1.5;
static const long g = sizeof(struct { char c; int i; }), h = strlen("x");
