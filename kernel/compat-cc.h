/* SPDX-License-Identifier: GPL-2.0 */
/*
 * coiommu_host: for the 6.12 leg of make check only, the Makefile's
 * K612_ARGS include this header first in every file (KCFLAGS=-include,
 * after the kernel's own kconfig.h and compiler_types.h, before any other
 * header); the shipped module never includes it. It includes nothing. The
 * kernel API differences are in compat.h.
 *
 * A kernel configured for another gcc than the one building the module:
 * Debian 13's 6.12 headers come configured for gcc-14, and are built here
 * with Debian 12's gcc-12. Three compiler tests of its Kconfig answer
 * otherwise for gcc-12; undo their C side as Kconfig would have decided
 * (their Makefile side is overridden on the make command line: see the
 * Makefile's K612_ARGS). Nothing here changes a structure layout.
 */
#ifndef _COIOMMU_COMPAT_CC_H
#define _COIOMMU_COMPAT_CC_H

#if defined(CONFIG_CC_IS_GCC) && defined(CONFIG_GCC_VERSION)
#define COIOMMU_GCC_VERSION \
	(__GNUC__ * 10000 + __GNUC_MINOR__ * 100 + __GNUC_PATCHLEVEL__)
#if CONFIG_GCC_VERSION != COIOMMU_GCC_VERSION
/* -fmin-function-alignment is gcc-14's: without it, __cold is unsafe. */
#if COIOMMU_GCC_VERSION < 140000 && \
	defined(CONFIG_CC_HAS_SANE_FUNCTION_ALIGNMENT) && CONFIG_FUNCTION_ALIGNMENT
#undef CONFIG_CC_HAS_MIN_FUNCTION_ALIGNMENT
#undef CONFIG_CC_HAS_SANE_FUNCTION_ALIGNMENT
#undef __cold
#define __cold
#endif
/* gcc bug 113921, fixed in 14, 13.3, 12.4, 11.5: GCC_ASM_GOTO_OUTPUT_BROKEN */
#if COIOMMU_GCC_VERSION < 110500 || \
	(COIOMMU_GCC_VERSION >= 120000 && COIOMMU_GCC_VERSION < 120400) || \
	(COIOMMU_GCC_VERSION >= 130000 && COIOMMU_GCC_VERSION < 130300)
#undef CONFIG_CC_HAS_ASM_GOTO_OUTPUT
#undef CONFIG_CC_HAS_ASM_GOTO_TIED_OUTPUT
#endif
#endif
#endif

#endif /* _COIOMMU_COMPAT_CC_H */
