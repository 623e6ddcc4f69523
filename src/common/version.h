// SPDX-License-Identifier: MIT
/* version.h: sbx's version, the one place it is written (the Makefile's deb reads it). */
#ifndef SBX_VERSION_H
#define SBX_VERSION_H

#define SBX_VERSION "0.1.0"

#endif
