// SPDX-License-Identifier: GPL-2.0
/*
 * module_load_unload: the module loads, /dev/coiommu appears, the version
 * ioctl answers, every opener gets an instance of its own, an open
 * instance keeps the module in, and rmmod removes the device again.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <linux/coiommu.h>

#include "ct_fixture.h"

TEST(module_load_unload)
{
	struct ct_pins base;
	struct stat st;
	int fd1, fd2, fd3, status;
	long id1, id2;
	pid_t child;

	ASSERT_FALSE(ct_module_loaded());
	ASSERT_NE(0, stat("/dev/coiommu", &st));
	ASSERT_EQ(0, ct_pins_read(&base));

	ASSERT_EQ(0, ct_module_load());
	ASSERT_TRUE(ct_module_loaded());
	ASSERT_EQ(0, stat("/dev/coiommu", &st));
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0600, st.st_mode & 0777);

	fd1 = open("/dev/coiommu", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd1);
	EXPECT_EQ(COIOMMU_API_VERSION, ioctl(fd1, COIOMMU_GET_API_VERSION));
	EXPECT_EQ(-1, ioctl(fd1, _IO(COIOMMU_TYPE, 0x7f)));
	EXPECT_EQ(ENOTTY, errno);

	/* A second opener: its own instance; a dup shares the first. */
	fd2 = open("/dev/coiommu", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd2);
	EXPECT_EQ(COIOMMU_API_VERSION, ioctl(fd2, COIOMMU_GET_API_VERSION));
	id1 = ct_co_fdinfo(fd1, "coiommu-instance");
	id2 = ct_co_fdinfo(fd2, "coiommu-instance");
	ASSERT_LE(0, id1);
	ASSERT_LE(0, id2);
	EXPECT_NE(id1, id2);
	fd3 = dup(fd1);
	EXPECT_EQ(id1, ct_co_fdinfo(fd3, "coiommu-instance"));
	close(fd3);

	/* Another process gets its own instance too. */
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		int fd = open("/dev/coiommu", O_RDWR | O_CLOEXEC);
		long id = ct_co_fdinfo(fd, "coiommu-instance");

		_exit(fd >= 0 && id >= 0 && id != id1 && id != id2 &&
		      ioctl(fd, COIOMMU_GET_API_VERSION) == COIOMMU_API_VERSION ?
		      0 : 1);
	}
	ASSERT_EQ(child, waitpid(child, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* An open instance holds the module. */
	EXPECT_NE(0, ct_module_unload());
	EXPECT_TRUE(ct_module_loaded());

	close(fd1);
	close(fd2);
	EXPECT_EQ(0, ct_pins_outstanding(&base));
	EXPECT_EQ(0, ct_locked_vm_kb(getpid()));
	ASSERT_EQ(0, ct_module_unload());
	EXPECT_FALSE(ct_module_loaded());
	EXPECT_NE(0, stat("/dev/coiommu", &st));

	/* And it loads again. */
	ASSERT_EQ(0, ct_module_load());
	ASSERT_EQ(0, ct_module_unload());
}

TEST_HARNESS_MAIN
