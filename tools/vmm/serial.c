// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * A 16550A UART at 0x3f8, IRQ 4 (the PC's COM1, Linux's ttyS0), written
 * from the register description of the 16550A data sheet. Transmitted
 * bytes go to stdout at once; there is no input (the receiver is always
 * empty). The transmitter is infinitely fast: THR is empty again right
 * after a write, which raises the THRE interrupt when it is enabled.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vmm.h"

#define COM1		0x3f8
#define COM1_IRQ	4

/* Registers (offsets). */
#define RBR_THR_DLL	0
#define IER_DLM		1
#define IIR_FCR		2
#define LCR		3
#define MCR		4
#define LSR		5
#define MSR		6
#define SCR		7

#define IER_RDI		0x01
#define IER_THRI	0x02
#define IIR_NO_INT	0x01
#define IIR_THRI	0x02
#define IIR_FIFO	0xc0
#define FCR_ENABLE	0x01
#define LCR_DLAB	0x80
#define MCR_DTR		0x01
#define MCR_RTS		0x02
#define MCR_OUT1	0x04
#define MCR_OUT2	0x08
#define MCR_LOOP	0x10
#define LSR_THRE	0x20
#define LSR_TEMT	0x40

static struct {
	struct vmm *vmm;
	uint8_t ier, fcr, lcr, mcr, scr, dll, dlm;
	bool thri_pending;	/* THRE interrupt pending (cleared by IIR read) */
	int line;		/* IRQ line level last set */
	char buf[4096];
	size_t len;
} uart;

void serial_flush(void)
{
	size_t off = 0;

	while (off < uart.len) {
		ssize_t n = write(STDOUT_FILENO, uart.buf + off,
				  uart.len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += n;
	}
	uart.len = 0;
}

static void put_char(uint8_t c)
{
	uart.buf[uart.len++] = c;
	if (c == '\n' || uart.len == sizeof(uart.buf))
		serial_flush();
}

static void update_irq(void)
{
	int level = (uart.ier & IER_THRI) && uart.thri_pending;

	/* On a PC, OUT2 gates the UART's interrupt onto the ISA bus. */
	if (!(uart.mcr & MCR_OUT2))
		level = 0;
	if (level != uart.line) {
		uart.line = level;
		vmm_irq_line(uart.vmm, COM1_IRQ, level);
	}
}

static uint8_t msr_value(void)
{
	/* Loopback: DCD=OUT2, RI=OUT1, DSR=DTR, CTS=RTS. */
	if (uart.mcr & MCR_LOOP)
		return (uart.mcr & MCR_OUT2 ? 0x80 : 0) |
		       (uart.mcr & MCR_OUT1 ? 0x40 : 0) |
		       (uart.mcr & MCR_DTR ? 0x20 : 0) |
		       (uart.mcr & MCR_RTS ? 0x10 : 0);
	return 0xb0;	/* DCD, DSR, CTS: a terminal is attached */
}

static uint8_t reg_read(unsigned int reg)
{
	uint8_t v = 0;

	switch (reg) {
	case RBR_THR_DLL:
		v = uart.lcr & LCR_DLAB ? uart.dll : 0;
		break;
	case IER_DLM:
		v = uart.lcr & LCR_DLAB ? uart.dlm : uart.ier;
		break;
	case IIR_FCR:
		v = uart.fcr & FCR_ENABLE ? IIR_FIFO : 0;
		if ((uart.ier & IER_THRI) && uart.thri_pending) {
			v |= IIR_THRI;
			uart.thri_pending = false;	/* read clears it */
		} else {
			v |= IIR_NO_INT;
		}
		break;
	case LCR:
		v = uart.lcr;
		break;
	case MCR:
		v = uart.mcr;
		break;
	case LSR:
		v = LSR_THRE | LSR_TEMT;
		break;
	case MSR:
		v = msr_value();
		break;
	case SCR:
		v = uart.scr;
		break;
	}
	update_irq();
	return v;
}

static void reg_write(unsigned int reg, uint8_t v)
{
	switch (reg) {
	case RBR_THR_DLL:
		if (uart.lcr & LCR_DLAB) {
			uart.dll = v;
			break;
		}
		/* Writing THR clears THRE; make the edge visible. */
		uart.thri_pending = false;
		update_irq();
		if (!(uart.mcr & MCR_LOOP))
			put_char(v);
		uart.thri_pending = true;
		break;
	case IER_DLM:
		if (uart.lcr & LCR_DLAB) {
			uart.dlm = v;
			break;
		}
		/* Enabling THRI with THR empty raises it at once. */
		if ((v & IER_THRI) && !(uart.ier & IER_THRI))
			uart.thri_pending = true;
		uart.ier = v & 0x0f;
		break;
	case IIR_FCR:
		uart.fcr = v & 0xc9;	/* FIFO enable, DMA mode, trigger */
		break;
	case LCR:
		uart.lcr = v;
		break;
	case MCR:
		uart.mcr = v & 0x1f;
		break;
	case SCR:
		uart.scr = v;
		break;
	}
	update_irq();
}

void serial_init(struct vmm *vmm)
{
	memset(&uart, 0, sizeof(uart));
	uart.vmm = vmm;
	uart.dll = 12;		/* 9600 baud */
}

bool serial_pio(struct vmm *vmm, uint16_t port, uint8_t *data, bool write)
{
	(void)vmm;
	if (port < COM1 || port >= COM1 + 8)
		return false;
	if (write)
		reg_write(port - COM1, *data);
	else
		*data = reg_read(port - COM1);
	return true;
}
