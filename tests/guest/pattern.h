/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The pattern memhog writes and the kdump helper looks for in /proc/vmcore:
 * splitmix64 of each 64-bit word's index, so every word differs and a page
 * moved to the wrong place shows.
 */
#ifndef VMRS_PATTERN_H
#define VMRS_PATTERN_H

#include <stdint.h>

static inline uint64_t pattern(uint64_t i)
{
	uint64_t z = i + 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

#endif
