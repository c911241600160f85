struct s { int a : 3; char c; double d[2]; } __attribute__((packed));
int f(struct s *, ...);
