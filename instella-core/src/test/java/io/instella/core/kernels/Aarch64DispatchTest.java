package io.instella.core.kernels;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** How NativeKernels reads aarch64 hwcaps and names the aarch64 builds (runs on any host). */
class Aarch64DispatchTest {
    static final String GRAVITON2 = """
            processor\t: 0
            BogoMIPS\t: 243.75
            Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs
            CPU implementer\t: 0x41
            """;
    static final String CORTEX_A72 = """
            processor\t: 0
            Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid
            """;

    @Test
    void featuresLineGivesTheHwcapsAndPicksTheBuild() {
        assertThat(NativeKernels.cpuFlags(GRAVITON2)).contains("asimd", "asimddp");
        assertThat(NativeKernels.Isa.NEONDOT.missingFlag(NativeKernels.cpuFlags(GRAVITON2))).isNull();
        assertThat(NativeKernels.Isa.NEONDOT.missingFlag(NativeKernels.cpuFlags(CORTEX_A72))).isEqualTo("asimddp");
        assertThat(NativeKernels.Isa.NEON.missingFlag(NativeKernels.cpuFlags(CORTEX_A72))).isNull();
        assertThat(NativeKernels.cpuFlags("processor : 0\n")).isEmpty();
    }

    @Test
    void aarch64BuildsLiveInTheirOwnDirectoryAndServeNeonPanelsAndLanes() {
        assertThat(NativeKernels.Isa.NEONDOT.resource()).isEqualTo("/io/instella/core/kernels/native/linux-aarch64/libinstella_kernels_neondot.so");
        assertThat(NativeKernels.Isa.AVX2.resource()).contains("/linux-x86_64/");
        assertThat(NativeKernels.Isa.NEON.hasGemmPanel(8)).isTrue();
        assertThat(NativeKernels.Isa.NEON.hasGemmPanel(16)).isTrue();
        assertThat(NativeKernels.Isa.NEON.hasGemmPanel(32)).isFalse();
        assertThat(NativeKernels.Isa.AVX2.hasGemmPanel(8)).isFalse();
        // The small-prompt BF16 kernel: NEON's 4 float lanes (the aarch64 default) and 8 forced; x86 8, and 16 with AVX-512.
        for (NativeKernels.Isa arm : new NativeKernels.Isa[]{NativeKernels.Isa.NEON, NativeKernels.Isa.NEONDOT}) {
            assertThat(arm.hasSmallLanes(4)).as("%s at 4 lanes", arm).isTrue();
            assertThat(arm.hasSmallLanes(8)).as("%s at 8 lanes", arm).isTrue();
            assertThat(arm.hasSmallLanes(16)).as("%s at 16 lanes", arm).isFalse();
        }
        assertThat(NativeKernels.Isa.AVX2.hasSmallLanes(4)).isFalse();
        assertThat(NativeKernels.Isa.AVX2.hasSmallLanes(8)).isTrue();
        assertThat(NativeKernels.Isa.AVX2.hasSmallLanes(16)).isFalse();
        assertThat(NativeKernels.Isa.AVX512.hasSmallLanes(16)).isTrue();
        // A build of the other architecture is never chosen on this one.
        boolean arm = System.getProperty("os.arch", "").equals("aarch64");
        assertThat(NativeKernels.Isa.NEON.forThisArch()).isEqualTo(arm);
        assertThat(NativeKernels.Isa.AVX2.forThisArch()).isEqualTo(!arm);
        assertThat(NativeKernels.runnableHere()).allMatch(NativeKernels.Isa::forThisArch);
    }
}
