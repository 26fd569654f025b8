#include "util/resident.hpp"

#include <cstdint>
#include <link.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

namespace puddle {
namespace {

struct Walk {
    std::uintptr_t page, vdso;
    std::size_t bytes = 0;
};

// Text relocations: the loader wrote into a segment without PF_W, so its
// pages hold relocated bytes the file does not have. (None on x86-64 in
// practice; such an object is left alone all the same.)
bool has_text_relocations(const dl_phdr_info *info) {
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        if (info->dlpi_phdr[i].p_type != PT_DYNAMIC) continue;
        for (auto *d = reinterpret_cast<const ElfW(Dyn) *>(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
             d->d_tag != DT_NULL; ++d)
            if (d->d_tag == DT_TEXTREL || (d->d_tag == DT_FLAGS && (d->d_un.d_val & DF_TEXTREL))) return true;
    }
    return false;
}

int each_object(dl_phdr_info *info, std::size_t, void *data) {
    auto *w = static_cast<Walk *>(data);
    if (has_text_relocations(info)) return 0;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr) &ph = info->dlpi_phdr[i];
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
        const std::uintptr_t begin = (info->dlpi_addr + ph.p_vaddr) & ~(w->page - 1);
        const std::uintptr_t end = (info->dlpi_addr + ph.p_vaddr + ph.p_memsz + w->page - 1) & ~(w->page - 1);
        // The vDSO is the kernel's, not a file's: it has nothing to map again.
        if (w->vdso >= begin && w->vdso < end) return 0;
    }
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr) &ph = info->dlpi_phdr[i];
        // RELRO lies inside the writable segment and the loader wrote it:
        // skipping every PF_W segment keeps it (and data, bss) intact.
        if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W) || ph.p_memsz == 0) continue;
        const std::uintptr_t begin = (info->dlpi_addr + ph.p_vaddr) & ~(w->page - 1);
        const std::uintptr_t end = (info->dlpi_addr + ph.p_vaddr + ph.p_memsz + w->page - 1) & ~(w->page - 1);
        // A private file mapping never written to: MADV_DONTNEED only unmaps,
        // the next access reads the same bytes from the page cache.
        if (::madvise(reinterpret_cast<void *>(begin), end - begin, MADV_DONTNEED) == 0) w->bytes += end - begin;
    }
    return 0;
}

} // namespace

std::size_t unmap_read_only_segments() {
    Walk w{std::uintptr_t(::sysconf(_SC_PAGESIZE)), std::uintptr_t(::getauxval(AT_SYSINFO_EHDR))};
    // dl_iterate_phdr holds the loader's lock: no library comes or goes meanwhile.
    ::dl_iterate_phdr(each_object, &w);
    return w.bytes;
}

} // namespace puddle
