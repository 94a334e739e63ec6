// SPDX-License-Identifier: GPL-2.0
/*
 * edu_dmatest: moves data through QEMU's edu device (1234:11e8) with the
 * DMA API only (dma_map_single(), dma_map_sgtable(), dma_alloc_coherent())
 * and checks every byte that comes back. It knows nothing of coIOMMU: with
 * the coIOMMU guest driver loaded, its DMA is tracked and pinned on demand
 * like any driver's.
 *
 * The test runs when the device is probed and again on every write to the
 * device's "run" attribute; "result" reads "pass TRANSFERS" or
 * "fail ERRNO STEP". edu has no interrupts here (the VMM gives none): the
 * driver polls. Each DMA moves at most 4095 bytes (QEMU 7.2 aborts on
 * 4096), and edu masks DMA addresses to 28 bits.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/io.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>

#define EDU_VENDOR	0x1234
#define EDU_DEVICE	0x11e8
#define EDU_IDENT	0x00
#define EDU_DMA_SRC	0x80
#define EDU_DMA_DST	0x88
#define EDU_DMA_CNT	0x90
#define EDU_DMA_CMD	0x98
#define EDU_CMD_START	BIT(0)
#define EDU_CMD_TO_RAM	BIT(1)
#define EDU_BUF		0x40000
#define EDU_XFER	4000
#define EDU_DMA_BITS	28

static unsigned int pages = 16;
module_param(pages, uint, 0644);
MODULE_PARM_DESC(pages, "Single-page buffers mapped at the same time (default 16)");

struct edu {
	struct pci_dev *pdev;
	void __iomem *bar;
	struct mutex lock;	/* one run at a time */
	int error;
	const char *step;
	unsigned int transfers;	/* verified DMA round trips */
	unsigned int seed;
};

static int edu_dma(struct edu *e, dma_addr_t ram, size_t len, bool to_ram)
{
	unsigned long timeout = jiffies + 10 * HZ;

	writeq(to_ram ? EDU_BUF : ram, e->bar + EDU_DMA_SRC);
	writeq(to_ram ? ram : EDU_BUF, e->bar + EDU_DMA_DST);
	writeq(len, e->bar + EDU_DMA_CNT);
	writeq(EDU_CMD_START | (to_ram ? EDU_CMD_TO_RAM : 0),
	       e->bar + EDU_DMA_CMD);
	while (readq(e->bar + EDU_DMA_CMD) & EDU_CMD_START) {
		if (time_after(jiffies, timeout))
			return -ETIMEDOUT;
		usleep_range(10000, 20000);
	}
	return 0;
}

static void edu_fill(struct edu *e, u8 *buf, size_t len)
{
	size_t i;

	e->seed++;
	for (i = 0; i < len; i++)
		buf[i] = (u8)(e->seed * 131 + i * 7 + (i >> 8));
}

/*
 * Round trip: @src (already holding data) to edu's buffer, edu's buffer to
 * @dst (zeroed first), then compare. The caller syncs.
 */
static int edu_round_trip(struct edu *e, dma_addr_t src_dma, const u8 *src,
			  dma_addr_t dst_dma, u8 *dst,
			  void (*sync)(struct edu *e, bool for_device, void *arg),
			  void *arg)
{
	int ret;

	ret = edu_dma(e, src_dma, EDU_XFER, false);
	if (ret)
		return ret;
	memset(dst, 0, EDU_XFER);
	if (sync)
		sync(e, true, arg);
	ret = edu_dma(e, dst_dma, EDU_XFER, true);
	if (ret)
		return ret;
	if (sync)
		sync(e, false, arg);
	if (memcmp(src, dst, EDU_XFER)) {
		dev_err(&e->pdev->dev, "edu-dmatest: data differs after DMA to %pad\n",
			&dst_dma);
		return -EILSEQ;
	}
	e->transfers++;
	return 0;
}

struct edu_single {
	dma_addr_t dma;
	size_t len;
};

static void edu_sync_single(struct edu *e, bool for_device, void *arg)
{
	struct edu_single *s = arg;

	if (for_device)
		dma_sync_single_for_device(&e->pdev->dev, s->dma, s->len,
					   DMA_BIDIRECTIONAL);
	else
		dma_sync_single_for_cpu(&e->pdev->dev, s->dma, s->len,
					DMA_BIDIRECTIONAL);
}

/* @pages one-page buffers, all mapped with dma_map_single() at once. */
static int edu_test_single(struct edu *e)
{
	struct device *dev = &e->pdev->dev;
	unsigned int n = max(pages, 2U), i, mapped = 0;
	dma_addr_t *dma;
	u8 **buf;
	int ret = -ENOMEM;

	e->step = "alloc";
	buf = kcalloc(n, sizeof(*buf), GFP_KERNEL);
	dma = kcalloc(n, sizeof(*dma), GFP_KERNEL);
	if (!buf || !dma)
		goto out;
	for (i = 0; i < n; i++) {
		buf[i] = (u8 *)__get_free_page(GFP_KERNEL);
		if (!buf[i])
			goto out;
	}
	e->step = "dma_map_single";
	for (mapped = 0; mapped < n; mapped++) {
		dma[mapped] = dma_map_single(dev, buf[mapped], PAGE_SIZE,
					     DMA_BIDIRECTIONAL);
		ret = dma_mapping_error(dev, dma[mapped]);
		if (ret) {
			dev_err(dev, "edu-dmatest: dma_map_single of buffer %u failed: %d\n",
				mapped, ret);
			goto out;
		}
	}
	e->step = "single transfer";
	for (i = 0; i < n; i++) {
		unsigned int j = (i + 1) % n;
		struct edu_single s = { .dma = dma[j], .len = PAGE_SIZE };

		edu_fill(e, buf[i], EDU_XFER);
		dma_sync_single_for_device(dev, dma[i], PAGE_SIZE,
					   DMA_BIDIRECTIONAL);
		ret = edu_round_trip(e, dma[i], buf[i], dma[j], buf[j],
				     edu_sync_single, &s);
		if (ret)
			goto out;
	}
	ret = 0;
out:
	while (mapped--)
		dma_unmap_single(dev, dma[mapped], PAGE_SIZE,
				 DMA_BIDIRECTIONAL);
	for (i = 0; buf && i < n; i++)
		free_page((unsigned long)buf[i]);
	kfree(buf);
	kfree(dma);
	return ret;
}

static void edu_sync_sg(struct edu *e, bool for_device, void *arg)
{
	struct sg_table *sgt = arg;

	if (for_device)
		dma_sync_sgtable_for_device(&e->pdev->dev, sgt,
					    DMA_BIDIRECTIONAL);
	else
		dma_sync_sgtable_for_cpu(&e->pdev->dev, sgt,
					 DMA_BIDIRECTIONAL);
}

/* A two-entry scatterlist: each entry's data goes through edu to the other. */
static int edu_test_sg(struct edu *e)
{
	struct device *dev = &e->pdev->dev;
	struct sg_table sgt;
	struct scatterlist *sg;
	u8 *buf[2] = { NULL, NULL };
	dma_addr_t dma[2];
	int ret = -ENOMEM, i;

	e->step = "alloc";
	for (i = 0; i < 2; i++) {
		buf[i] = (u8 *)__get_free_page(GFP_KERNEL);
		if (!buf[i])
			goto out_free;
	}
	if (sg_alloc_table(&sgt, 2, GFP_KERNEL))
		goto out_free;
	sg_set_buf(sgt.sgl, buf[0], PAGE_SIZE);
	sg_set_buf(sg_next(sgt.sgl), buf[1], PAGE_SIZE);
	e->step = "dma_map_sgtable";
	ret = dma_map_sgtable(dev, &sgt, DMA_BIDIRECTIONAL, 0);
	if (ret) {
		dev_err(dev, "edu-dmatest: dma_map_sgtable failed: %d\n", ret);
		goto out_table;
	}
	e->step = "sg transfer";
	if (sgt.nents != 2) {
		ret = -EINVAL;
		goto out_unmap;
	}
	for_each_sgtable_dma_sg(&sgt, sg, i)
		dma[i] = sg_dma_address(sg);
	for (i = 0; i < 2; i++) {
		edu_fill(e, buf[i], EDU_XFER);
		dma_sync_sgtable_for_device(dev, &sgt, DMA_BIDIRECTIONAL);
		ret = edu_round_trip(e, dma[i], buf[i], dma[!i], buf[!i],
				     edu_sync_sg, &sgt);
		if (ret)
			break;
	}
out_unmap:
	dma_unmap_sgtable(dev, &sgt, DMA_BIDIRECTIONAL, 0);
out_table:
	sg_free_table(&sgt);
out_free:
	for (i = 0; i < 2; i++)
		free_page((unsigned long)buf[i]);
	return ret;
}

/* Two pages of coherent memory: the first page's data to the second. */
static int edu_test_coherent(struct edu *e)
{
	struct device *dev = &e->pdev->dev;
	dma_addr_t dma;
	u8 *buf;
	int ret;

	e->step = "dma_alloc_coherent";
	buf = dma_alloc_coherent(dev, 2 * PAGE_SIZE, &dma, GFP_KERNEL);
	if (!buf) {
		dev_err(dev, "edu-dmatest: dma_alloc_coherent failed\n");
		return -ENOMEM;
	}
	e->step = "coherent transfer";
	edu_fill(e, buf, EDU_XFER);
	ret = edu_round_trip(e, dma, buf, dma + PAGE_SIZE, buf + PAGE_SIZE,
			     NULL, NULL);
	dma_free_coherent(dev, 2 * PAGE_SIZE, buf, dma);
	return ret;
}

static int edu_run(struct edu *e)
{
	int ret;

	mutex_lock(&e->lock);
	e->transfers = 0;
	e->error = 0;
	e->step = "";
	ret = edu_test_single(e);
	if (!ret)
		ret = edu_test_sg(e);
	if (!ret)
		ret = edu_test_coherent(e);
	e->error = ret;
	if (ret)
		dev_info(&e->pdev->dev, "edu-dmatest: fail %d at %s, %u transfers verified before\n",
			 ret, e->step, e->transfers);
	else
		dev_info(&e->pdev->dev, "edu-dmatest: pass, %u transfers verified\n",
			 e->transfers);
	mutex_unlock(&e->lock);
	return ret;
}

static ssize_t result_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	struct edu *e = dev_get_drvdata(dev);
	ssize_t n;

	mutex_lock(&e->lock);
	if (e->error)
		n = sysfs_emit(buf, "fail %d %s\n", e->error, e->step);
	else
		n = sysfs_emit(buf, "pass %u\n", e->transfers);
	mutex_unlock(&e->lock);
	return n;
}
static DEVICE_ATTR_RO(result);

static ssize_t run_store(struct device *dev, struct device_attribute *attr,
			 const char *buf, size_t count)
{
	int ret = edu_run(dev_get_drvdata(dev));

	return ret ? ret : count;
}
static DEVICE_ATTR_WO(run);

static struct attribute *edu_attrs[] = {
	&dev_attr_result.attr,
	&dev_attr_run.attr,
	NULL,
};
ATTRIBUTE_GROUPS(edu);

static int edu_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct edu *e;
	int ret;

	e = devm_kzalloc(&pdev->dev, sizeof(*e), GFP_KERNEL);
	if (!e)
		return -ENOMEM;
	e->pdev = pdev;
	mutex_init(&e->lock);
	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	ret = pcim_iomap_regions(pdev, BIT(0), KBUILD_MODNAME);
	if (ret)
		return ret;
	e->bar = pcim_iomap_table(pdev)[0];
	ret = dma_set_mask_and_coherent(&pdev->dev,
					DMA_BIT_MASK(EDU_DMA_BITS));
	if (ret)
		return ret;
	pci_set_master(pdev);
	pci_set_drvdata(pdev, e);
	dev_info(&pdev->dev, "edu-dmatest: ident %#x\n",
		 readl(e->bar + EDU_IDENT));
	edu_run(e);
	return 0;
}

static void edu_remove(struct pci_dev *pdev)
{
	pci_clear_master(pdev);
}

static const struct pci_device_id edu_ids[] = {
	{ PCI_DEVICE(EDU_VENDOR, EDU_DEVICE) },
	{ }
};
MODULE_DEVICE_TABLE(pci, edu_ids);

static struct pci_driver edu_driver = {
	.name		= "edu_dmatest",
	.id_table	= edu_ids,
	.probe		= edu_probe,
	.remove		= edu_remove,
	.dev_groups	= edu_groups,
};
module_pci_driver(edu_driver);

MODULE_DESCRIPTION("DMA API test driver for QEMU's edu device");
MODULE_LICENSE("GPL");
