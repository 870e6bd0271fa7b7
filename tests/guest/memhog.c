// SPDX-License-Identifier: GPL-2.0
/*
 * memhog: holds a checksummed pattern in anonymous memory so a test can check
 * that unplugging (which migrates the pages) loses no data.
 *
 *   memhog MIB READYFILE
 *
 * Fills MIB MiB with a pattern derived from each word's index, writes
 * READYFILE, then sleeps. On SIGUSR1 it checks every word and exits 0 when
 * all are intact, 1 (naming the first bad offset) otherwise.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static volatile sig_atomic_t verify_requested;

static void on_usr1(int sig)
{
	(void)sig;
	verify_requested = 1;
}

/* splitmix64: every word differs, so a page moved to the wrong place shows. */
static uint64_t pattern(uint64_t i)
{
	uint64_t z = i + 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigset_t usr1, waitmask;
	size_t words, i;
	uint64_t *mem;
	FILE *ready;
	long mib;

	if (argc != 3 || (mib = strtol(argv[1], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: memhog MIB READYFILE\n");
		return 2;
	}
	/* Blocked until sigsuspend() so a signal cannot slip in before the wait. */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigemptyset(&sa.sa_mask);
	if (sigprocmask(SIG_BLOCK, &usr1, &waitmask) ||
	    sigaction(SIGUSR1, &sa, NULL)) {
		perror("memhog: sigaction");
		return 2;
	}
	words = (size_t)mib << 20 >> 3;
	mem = mmap(NULL, words * 8, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("memhog: mmap");
		return 2;
	}
	for (i = 0; i < words; i++)
		mem[i] = pattern(i);
	ready = fopen(argv[2], "w");
	if (!ready || fprintf(ready, "%ld\n", mib) < 0 || fclose(ready)) {
		perror("memhog: ready file");
		return 2;
	}
	sigdelset(&waitmask, SIGUSR1);
	while (!verify_requested)
		sigsuspend(&waitmask);
	for (i = 0; i < words; i++) {
		if (mem[i] != pattern(i)) {
			printf("memhog: corrupt word at offset %zu of %zu MiB\n",
			       i * 8, (size_t)mib);
			return 1;
		}
	}
	printf("memhog: %ld MiB intact\n", mib);
	return 0;
}
