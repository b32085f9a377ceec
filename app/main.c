#include <stdio.h>
int main(void) { puts("hark"); return 0; }
