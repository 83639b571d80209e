/*
 * A faithful stand-in for libnvidia-ml.so.1, for tests on machines without an NVIDIA GPU.
 *
 * It exports the NVML entry points unified-llm uses, with NVML's x86_64 struct layouts, return codes and
 * error strings, and serves a GPU table read from a line-based key=value file (see README.md). The file is
 * FAKE_NVML_CONFIG when that is set, else this library's own path plus ".conf", so that every test can load
 * its own copy of the library with its own table. The table is read again by nvmlInit and by every
 * nvmlDeviceGetCount call, so a test can change the GPUs between two polls.
 *
 * Build variants (build.sh): default (every symbol, like a current driver), -DFAKE_NVML_NO_V3 (no _v3
 * symbols, like an R470 driver) and -DFAKE_NVML_OLD_DRIVER (no _v2/_v3 symbols at all).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

typedef int nvmlReturn_t;
typedef struct fake_gpu *nvmlDevice_t;

enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_NOT_SUPPORTED = 3,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25,
    NVML_ERROR_UNKNOWN = 999,
};

#define MAX_GPUS 16
#define MAX_FAILS 16
#define MAX_NAME 96

typedef struct {
    unsigned long long total, free, used;
} nvmlMemory_t;

typedef struct {
    unsigned int version;
    unsigned long long total, reserved, free, used;
} nvmlMemory_v2_t;

#define NVML_MEMORY_V2 (unsigned int)(sizeof(nvmlMemory_v2_t) | (2u << 24u))

typedef struct {
    unsigned int gpu, memory;
} nvmlUtilization_t;

typedef struct {
    char busIdLegacy[16];
    unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
    char busId[32];
} nvmlPciInfo_t;

typedef struct {
    char busId[16];
    unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
    unsigned int reserved0, reserved1, reserved2, reserved3;
} nvmlPciInfo_v1_t;

struct fake_fail {
    char function[64];
    int code;
};

struct fake_process {
    unsigned int pid;
    unsigned long long used;
};

struct fake_gpu {
    char name[MAX_NAME], uuid[MAX_NAME], pci_bus_id[32];
    unsigned int minor, pci_device_id, pci_subsystem_id;
    unsigned long long memory_total, memory_used, memory_reserved;
    int has_utilization, has_temperature;
    unsigned int utilization_gpu, utilization_memory, temperature;
    struct fake_process *processes;
    unsigned int process_count, process_capacity;
    unsigned int grow_by, grow_times;
    struct fake_fail fails[MAX_FAILS];
    int fail_count;
};

static struct {
    int initialized;
    char driver_version[80];
    unsigned int gpu_count;
    unsigned int v3_entry_bytes;
    struct fake_fail fails[MAX_FAILS];
    int fail_count;
    struct fake_gpu gpus[MAX_GPUS];
} fake;

static void config_path(char *out, size_t size)
{
    const char *env = getenv("FAKE_NVML_CONFIG");
    if (env != NULL && env[0] != '\0') {
        snprintf(out, size, "%s", env);
        return;
    }
    Dl_info info;
    if (dladdr((void *)config_path, &info) != 0 && info.dli_fname != NULL)
        snprintf(out, size, "%s.conf", info.dli_fname);
    else
        out[0] = '\0';
}

static void reset_table(void)
{
    for (int i = 0; i < MAX_GPUS; i++)
        free(fake.gpus[i].processes);
    int initialized = fake.initialized;
    memset(&fake, 0, sizeof fake);
    fake.initialized = initialized;
    fake.v3_entry_bytes = 24;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

static int parse_u64(const char *text, unsigned long long *out)
{
    char *end;
    if (text[0] == '\0' || text[0] == '-')
        return 0;
    *out = strtoull(text, &end, 0);
    return *end == '\0';
}

static int parse_u32(const char *text, unsigned int *out)
{
    unsigned long long value;
    if (!parse_u64(text, &value) || value > 0xFFFFFFFFull)
        return 0;
    *out = (unsigned int)value;
    return 1;
}

static int add_fail(struct fake_fail *fails, int *count, const char *function, const char *code)
{
    unsigned int value;
    if (*count == MAX_FAILS || strlen(function) >= sizeof fails[0].function || !parse_u32(code, &value))
        return 0;
    snprintf(fails[*count].function, sizeof fails[0].function, "%s", function);
    fails[*count].code = (int)value;
    (*count)++;
    return 1;
}

static int add_process(struct fake_gpu *gpu, unsigned int pid, unsigned long long used)
{
    if (gpu->process_count == gpu->process_capacity) {
        unsigned int capacity = gpu->process_capacity == 0 ? 8 : gpu->process_capacity * 2;
        struct fake_process *grown = realloc(gpu->processes, capacity * sizeof *grown);
        if (grown == NULL)
            return 0;
        gpu->processes = grown;
        gpu->process_capacity = capacity;
    }
    gpu->processes[gpu->process_count].pid = pid;
    gpu->processes[gpu->process_count].used = used;
    gpu->process_count++;
    return 1;
}

static int copy_text(char *dest, size_t size, const char *value)
{
    if (strlen(value) >= size)
        return 0;
    snprintf(dest, size, "%s", value);
    return 1;
}

static int apply_gpu_key(struct fake_gpu *gpu, const char *key, const char *value)
{
    if (strcmp(key, "name") == 0)
        return copy_text(gpu->name, sizeof gpu->name, value);
    if (strcmp(key, "uuid") == 0)
        return copy_text(gpu->uuid, sizeof gpu->uuid, value);
    if (strcmp(key, "pci_bus_id") == 0)
        return copy_text(gpu->pci_bus_id, sizeof gpu->pci_bus_id, value);
    if (strcmp(key, "pci_device_id") == 0)
        return parse_u32(value, &gpu->pci_device_id);
    if (strcmp(key, "minor") == 0)
        return parse_u32(value, &gpu->minor);
    if (strcmp(key, "memory_total") == 0)
        return parse_u64(value, &gpu->memory_total);
    if (strcmp(key, "memory_used") == 0)
        return parse_u64(value, &gpu->memory_used);
    if (strcmp(key, "memory_reserved") == 0)
        return parse_u64(value, &gpu->memory_reserved);
    if (strcmp(key, "utilization_gpu") == 0)
        return gpu->has_utilization = parse_u32(value, &gpu->utilization_gpu);
    if (strcmp(key, "utilization_memory") == 0)
        return gpu->has_utilization = parse_u32(value, &gpu->utilization_memory);
    if (strcmp(key, "temperature") == 0)
        return gpu->has_temperature = parse_u32(value, &gpu->temperature);
    if (strcmp(key, "processes_grow_by") == 0)
        return parse_u32(value, &gpu->grow_by);
    if (strcmp(key, "processes_grow_times") == 0)
        return parse_u32(value, &gpu->grow_times);
    if (strcmp(key, "process") == 0) {
        unsigned int pid;
        unsigned long long used;
        char extra;
        return sscanf(value, "%u:%llu%c", &pid, &used, &extra) == 2 && add_process(gpu, pid, used);
    }
    if (strncmp(key, "fail.", 5) == 0)
        return add_fail(gpu->fails, &gpu->fail_count, key + 5, value);
    return 0;
}

static int apply_key(const char *key, const char *value)
{
    if (strcmp(key, "driver_version") == 0)
        return copy_text(fake.driver_version, sizeof fake.driver_version, value);
    if (strcmp(key, "gpu_count") == 0)
        return parse_u32(value, &fake.gpu_count) && fake.gpu_count <= MAX_GPUS;
    if (strcmp(key, "v3_process_entry_bytes") == 0)
        return parse_u32(value, &fake.v3_entry_bytes) && (fake.v3_entry_bytes == 24 || fake.v3_entry_bytes == 32);
    if (strncmp(key, "fail.", 5) == 0)
        return add_fail(fake.fails, &fake.fail_count, key + 5, value);
    if (strncmp(key, "gpu", 3) == 0 && isdigit((unsigned char)key[3])) {
        char *dot;
        unsigned long index = strtoul(key + 3, &dot, 10);
        if (*dot != '.' || index >= MAX_GPUS)
            return 0;
        return apply_gpu_key(&fake.gpus[index], dot + 1, value);
    }
    return 0;
}

/* Returns NVML_SUCCESS, or NVML_ERROR_UNKNOWN after printing file:line of the first bad line to stderr. */
static nvmlReturn_t load_table(void)
{
    char path[4096];
    config_path(path, sizeof path);
    reset_table();
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        fprintf(stderr, "fake_nvml: cannot open config %s\n", path[0] ? path : "(unknown path)");
        return NVML_ERROR_UNKNOWN;
    }
    char line[512];
    int number = 0;
    while (fgets(line, sizeof line, file) != NULL) {
        number++;
        char *text = trim(line);
        if (text[0] == '\0' || text[0] == '#')
            continue;
        char *equals = strchr(text, '=');
        if (equals != NULL)
            *equals = '\0';
        if (equals == NULL || !apply_key(trim(text), trim(equals + 1))) {
            fprintf(stderr, "fake_nvml: %s:%d: bad line\n", path, number);
            fclose(file);
            return NVML_ERROR_UNKNOWN;
        }
    }
    fclose(file);
    return NVML_SUCCESS;
}

static int injected(const struct fake_fail *fails, int count, const char *function)
{
    for (int i = 0; i < count; i++)
        if (strcmp(fails[i].function, function) == 0)
            return fails[i].code;
    return NVML_SUCCESS;
}

#define SYSTEM_CALL(function)                                                         \
    do {                                                                              \
        if (!fake.initialized)                                                        \
            return NVML_ERROR_UNINITIALIZED;                                          \
        int rc_ = injected(fake.fails, fake.fail_count, function);                    \
        if (rc_ != NVML_SUCCESS)                                                      \
            return rc_;                                                               \
    } while (0)

#define DEVICE_CALL(device, function)                                                 \
    do {                                                                              \
        SYSTEM_CALL(function);                                                        \
        if ((device) == NULL)                                                         \
            return NVML_ERROR_INVALID_ARGUMENT;                                       \
        int rc_ = injected((device)->fails, (device)->fail_count, function);          \
        if (rc_ != NVML_SUCCESS)                                                      \
            return rc_;                                                               \
    } while (0)

static nvmlReturn_t init(void)
{
    nvmlReturn_t rc = load_table();
    if (rc != NVML_SUCCESS)
        return rc;
    rc = injected(fake.fails, fake.fail_count, "nvmlInit");
    if (rc != NVML_SUCCESS)
        return rc;
    fake.initialized++;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlInit(void) { return init(); }

EXPORT nvmlReturn_t nvmlShutdown(void)
{
    if (!fake.initialized)
        return NVML_ERROR_UNINITIALIZED;
    int rc = injected(fake.fails, fake.fail_count, "nvmlShutdown");
    if (rc != NVML_SUCCESS)
        return rc;
    fake.initialized--;
    return NVML_SUCCESS;
}

EXPORT const char *nvmlErrorString(nvmlReturn_t result)
{
    switch (result) {
    case 0: return "Success";
    case 1: return "Uninitialized";
    case 2: return "Invalid Argument";
    case 3: return "Not Supported";
    case 4: return "Insufficient Permissions";
    case 5: return "Already Initialized";
    case 6: return "Not Found";
    case 7: return "Insufficient Size";
    case 8: return "Insufficient External Power";
    case 9: return "Driver Not Loaded";
    case 10: return "Timeout";
    case 11: return "Interrupt Request Issue";
    case 12: return "NVML Shared Library Not Found";
    case 13: return "Function Not Found";
    case 14: return "Corrupted infoROM";
    case 15: return "GPU is lost";
    case 16: return "GPU requires reset";
    case 17: return "GPU access blocked by the operating system";
    case 18: return "Driver/library version mismatch";
    case 19: return "In use by another client";
    case 20: return "Insufficient Memory";
    case 23: return "Insufficient Resources";
    case 25: return "Argument version mismatch";
    default: return "Unknown Error";
    }
}

EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    SYSTEM_CALL("nvmlSystemGetDriverVersion");
    if (version == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(fake.driver_version) >= length)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(version, fake.driver_version);
    return NVML_SUCCESS;
}

/* Each poll starts by counting GPUs, so the table is re-read here, before injected failures are looked up. */
static nvmlReturn_t get_count(unsigned int *count)
{
    if (!fake.initialized)
        return NVML_ERROR_UNINITIALIZED;
    nvmlReturn_t rc = load_table();
    if (rc != NVML_SUCCESS)
        return rc;
    SYSTEM_CALL("nvmlDeviceGetCount");
    if (count == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    *count = fake.gpu_count;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetCount(unsigned int *count) { return get_count(count); }

static nvmlReturn_t get_handle(unsigned int index, nvmlDevice_t *device)
{
    SYSTEM_CALL("nvmlDeviceGetHandleByIndex");
    if (device == NULL || index >= fake.gpu_count)
        return NVML_ERROR_INVALID_ARGUMENT;
    int rc = injected(fake.gpus[index].fails, fake.gpus[index].fail_count, "nvmlDeviceGetHandleByIndex");
    if (rc != NVML_SUCCESS)
        return rc;
    *device = &fake.gpus[index];
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, nvmlDevice_t *device)
{
    return get_handle(index, device);
}

static nvmlReturn_t copy_out(char *dest, unsigned int length, const char *value)
{
    if (dest == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (strlen(value) >= length)
        return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(dest, value);
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)
{
    DEVICE_CALL(device, "nvmlDeviceGetName");
    return copy_out(name, length, device->name);
}

EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)
{
    DEVICE_CALL(device, "nvmlDeviceGetUUID");
    return copy_out(uuid, length, device->uuid);
}

EXPORT nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t device, unsigned int *minor)
{
    DEVICE_CALL(device, "nvmlDeviceGetMinorNumber");
    if (minor == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    *minor = device->minor;
    return NVML_SUCCESS;
}

static void parse_bus_id(const struct fake_gpu *gpu, unsigned int *domain, unsigned int *bus, unsigned int *dev)
{
    unsigned int function;
    *domain = *bus = *dev = 0;
    if (sscanf(gpu->pci_bus_id, "%x:%x:%x.%x", domain, bus, dev, &function) != 4)
        *domain = *bus = *dev = 0;
}

#ifndef FAKE_NVML_OLD_DRIVER
static nvmlReturn_t get_pci(nvmlDevice_t device, nvmlPciInfo_t *pci)
{
    DEVICE_CALL(device, "nvmlDeviceGetPciInfo");
    if (pci == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    memset(pci, 0, sizeof *pci);
    parse_bus_id(device, &pci->domain, &pci->bus, &pci->device);
    snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%04X:%02X:%02X.0", pci->domain & 0xFFFF, pci->bus,
             pci->device);
    snprintf(pci->busId, sizeof pci->busId, "%s", device->pci_bus_id);
    pci->pciDeviceId = device->pci_device_id;
    return NVML_SUCCESS;
}
#endif

EXPORT nvmlReturn_t nvmlDeviceGetPciInfo(nvmlDevice_t device, nvmlPciInfo_v1_t *pci)
{
    DEVICE_CALL(device, "nvmlDeviceGetPciInfo");
    if (pci == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    memset(pci, 0, sizeof *pci);
    parse_bus_id(device, &pci->domain, &pci->bus, &pci->device);
    snprintf(pci->busId, sizeof pci->busId, "%04X:%02X:%02X.0", pci->domain & 0xFFFF, pci->bus, pci->device);
    pci->pciDeviceId = device->pci_device_id;
    return NVML_SUCCESS;
}

/* The unversioned call counts driver-reserved memory as used, like real drivers do. */
EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory)
{
    DEVICE_CALL(device, "nvmlDeviceGetMemoryInfo");
    if (memory == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    memory->total = device->memory_total;
    memory->used = device->memory_used + device->memory_reserved;
    memory->free = device->memory_total - memory->used;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization)
{
    DEVICE_CALL(device, "nvmlDeviceGetUtilizationRates");
    if (utilization == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (!device->has_utilization)
        return NVML_ERROR_NOT_SUPPORTED;
    utilization->gpu = device->utilization_gpu;
    utilization->memory = device->utilization_memory;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor, unsigned int *temperature)
{
    DEVICE_CALL(device, "nvmlDeviceGetTemperature");
    if (temperature == NULL || sensor != 0)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (!device->has_temperature)
        return NVML_ERROR_NOT_SUPPORTED;
    *temperature = device->temperature;
    return NVML_SUCCESS;
}

/* A process starting between the size query and the real call makes the list grow, as on a busy GPU. */
static void grow_after_size_query(struct fake_gpu *gpu)
{
    if (gpu->grow_times == 0)
        return;
    gpu->grow_times--;
    for (unsigned int i = 0; i < gpu->grow_by; i++)
        add_process(gpu, 900000u + gpu->process_count, 1048576ull);
}

static nvmlReturn_t get_processes(nvmlDevice_t device, unsigned int *count, void *infos, size_t entry_bytes)
{
    DEVICE_CALL(device, "nvmlDeviceGetComputeRunningProcesses");
    if (count == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    unsigned int needed = device->process_count;
    if (*count < needed) {
        *count = needed;
        grow_after_size_query(device);
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    if (needed > 0 && infos == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    for (unsigned int i = 0; i < needed; i++) {
        unsigned char *entry = (unsigned char *)infos + i * entry_bytes;
        uint32_t pid = device->processes[i].pid, no_instance = 0xFFFFFFFFu;
        uint64_t used = device->processes[i].used;
        memset(entry, 0, entry_bytes);
        memcpy(entry, &pid, sizeof pid);
        memcpy(entry + 8, &used, sizeof used);
        if (entry_bytes >= 24) {
            memcpy(entry + 16, &no_instance, sizeof no_instance);
            memcpy(entry + 20, &no_instance, sizeof no_instance);
        }
    }
    *count = needed;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t device, unsigned int *count, void *infos)
{
    return get_processes(device, count, infos, 16);
}

#ifndef FAKE_NVML_OLD_DRIVER
EXPORT nvmlReturn_t nvmlInit_v2(void) { return init(); }

EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) { return get_count(count); }

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
    return get_handle(index, device);
}

EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t device, nvmlPciInfo_t *pci) { return get_pci(device, pci); }

EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory)
{
    DEVICE_CALL(device, "nvmlDeviceGetMemoryInfo");
    int rc = injected(device->fails, device->fail_count, "nvmlDeviceGetMemoryInfo_v2");
    if (rc != NVML_SUCCESS)
        return rc;
    if (memory == NULL)
        return NVML_ERROR_INVALID_ARGUMENT;
    if (memory->version != NVML_MEMORY_V2)
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    memory->total = device->memory_total;
    memory->reserved = device->memory_reserved;
    memory->used = device->memory_used;
    memory->free = device->memory_total - device->memory_used - device->memory_reserved;
    return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device, unsigned int *count, void *infos)
{
    return get_processes(device, count, infos, 24);
}

#ifndef FAKE_NVML_NO_V3
EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t *pci) { return get_pci(device, pci); }

/* Some R535 drivers write 32-byte entries through this symbol (v3_process_entry_bytes=32). */
EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *count, void *infos)
{
    return get_processes(device, count, infos, fake.v3_entry_bytes);
}
#endif
#endif
