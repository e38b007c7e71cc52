/*
 * Finding the GPU. The CUDA driver API is loaded at run time with dlopen, so
 * unmark builds and runs on machines without CUDA and names the GPU (and how
 * much memory it has) where there is one.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/hwcontext.h>

#include "unmark/media.h"

typedef int (*cu_init_fn)(unsigned int);
typedef int (*cu_count_fn)(int *);
typedef int (*cu_device_fn)(int *, int);
typedef int (*cu_name_fn)(char *, int, int);
typedef int (*cu_mem_fn)(size_t *, int);

static void probe_with_driver(void *lib, um_media_hw *hw)
{
    cu_init_fn cu_init = (cu_init_fn)dlsym(lib, "cuInit");
    cu_count_fn cu_count = (cu_count_fn)dlsym(lib, "cuDeviceGetCount");
    cu_device_fn cu_device = (cu_device_fn)dlsym(lib, "cuDeviceGet");
    cu_name_fn cu_name = (cu_name_fn)dlsym(lib, "cuDeviceGetName");
    cu_mem_fn cu_mem = (cu_mem_fn)dlsym(lib, "cuDeviceTotalMem_v2");
    if (!cu_init || !cu_count || !cu_device || !cu_name || !cu_mem) {
        snprintf(hw->reason, sizeof(hw->reason), "libcuda.so.1 lacks the driver API");
        return;
    }
    int rc = cu_init(0);
    if (rc != 0) {
        snprintf(hw->reason, sizeof(hw->reason), "cuInit failed with CUDA error %d", rc);
        return;
    }
    int count = 0, dev = 0;
    size_t mem = 0;
    if (cu_count(&count) != 0 || count <= 0) {
        snprintf(hw->reason, sizeof(hw->reason), "the CUDA driver sees no GPU");
        return;
    }
    if (cu_device(&dev, 0) != 0 || cu_name(hw->gpu_name, sizeof(hw->gpu_name), dev) != 0 ||
        cu_mem(&mem, dev) != 0) {
        snprintf(hw->reason, sizeof(hw->reason), "the CUDA driver could not describe GPU 0");
        return;
    }
    hw->gpu_count = count;
    hw->gpu_memory = mem;
}

void um_media_hw_probe(um_media_hw *hw)
{
    memset(hw, 0, sizeof(*hw));
    hw->ffmpeg_cuda = av_hwdevice_find_type_by_name("cuda") != AV_HWDEVICE_TYPE_NONE;
    hw->ffmpeg_nvenc = avcodec_find_encoder_by_name("h264_nvenc") != NULL;
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(hw->reason, sizeof(hw->reason), "no NVIDIA driver: %s", dlerror());
        return;
    }
    probe_with_driver(lib, hw);
    dlclose(lib);
}

void um_media_hw_describe(const um_media_hw *hw, char *buf, size_t cap)
{
    if (hw->gpu_count > 0)
        snprintf(buf, cap, "%s (%.1f GiB)%s", hw->gpu_name,
                 (double)hw->gpu_memory / (1024.0 * 1024.0 * 1024.0),
                 hw->gpu_count > 1 ? " and more" : "");
    else
        snprintf(buf, cap, "no GPU (%s)", hw->reason);
}
