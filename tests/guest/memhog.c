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
 *
 * With MEMHOG_PHYS_ABOVE=ADDR in the environment (the kdump case), it also
 * locks its memory (mlockall; with vm.compact_unevictable_allowed=0 the pages
 * then stay where they are) and writes a second line into READYFILE, "WORD
 * PADDR": the index of the first word of a page of the pattern whose
 * physical address, PADDR, is ADDR or above (read from /proc/self/pagemap,
 * which gives page frames to root only), so that a capture kernel can look
 * for it in /proc/vmcore.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pattern.h"

#define PAGE 4096UL

static volatile sig_atomic_t verify_requested;

static void on_usr1(int sig)
{
	(void)sig;
	verify_requested = 1;
}

/*
 * The first page of mem[0..words) at or above physical address `above`:
 * writes "WORD PADDR" to `out`. Returns 0, or -1 when there is none.
 */
static int find_phys(const uint64_t *mem, size_t words, uint64_t above,
		     FILE *out)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	size_t i;

	if (fd < 0) {
		perror("memhog: /proc/self/pagemap");
		return -1;
	}
	for (i = 0; i < words; i += PAGE / 8) {
		uintptr_t va = (uintptr_t)&mem[i];
		uint64_t entry, paddr;

		if (pread(fd, &entry, 8, va / PAGE * 8) != 8)
			break;
		/* bit 63: present; bits 0-54: the page frame (0 without CAP_SYS_ADMIN) */
		if (!(entry >> 63))
			continue;
		paddr = (entry & ((1ULL << 55) - 1)) * PAGE;
		if (paddr && paddr >= above) {
			close(fd);
			return fprintf(out, "%zu 0x%llx\n", i,
				       (unsigned long long)paddr) < 0 ? -1 : 0;
		}
	}
	close(fd);
	fprintf(stderr, "memhog: no page at or above 0x%llx\n",
		(unsigned long long)above);
	return -1;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigset_t usr1, waitmask;
	size_t words, i;
	uint64_t *mem;
	const char *above = getenv("MEMHOG_PHYS_ABOVE");
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
	if (above && mlockall(MCL_CURRENT | MCL_FUTURE)) {
		perror("memhog: mlockall");
		return 2;
	}
	for (i = 0; i < words; i++)
		mem[i] = pattern(i);
	ready = fopen(argv[2], "w");
	if (!ready || fprintf(ready, "%ld\n", mib) < 0 ||
	    (above && find_phys(mem, words, strtoull(above, NULL, 0), ready)) ||
	    fclose(ready)) {
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
