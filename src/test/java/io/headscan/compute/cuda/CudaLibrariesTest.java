package io.headscan.compute.cuda;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.compute.BackendException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Where the CUDA libraries are looked for, on real folder trees laid out as toolkits and Python wheels lay them out. The
 * system folders are looked up under a tree of the test's own ({@code sys}), so a CUDA installed on the machine running the
 * tests changes nothing.
 */
class CudaLibrariesTest {

    @TempDir
    Path dir;

    private Path touch(String relative) throws IOException {
        Path p = dir.resolve(relative);
        Files.createDirectories(p.getParent());
        Files.writeString(p, "not really a library");
        return p;
    }

    private Path sys() {
        return dir.resolve("sys");
    }

    @Test
    void systemWideLibrariesAreFoundAfterTheToolkitsAndLoaderPath() throws IOException {
        Path system = touch("sys/usr/lib/x86_64-linux-gnu/libcublas.so.12");
        var none = new CudaLibraries(Optional.empty(), Map.of(), dir.resolve("home"), sys());
        assertEquals(system, none.find(CudaLibraries.CUBLAS).orElseThrow());
        Path toolkit = touch("sys/usr/local/cuda/lib64/libcublas.so.13");
        assertEquals(toolkit, none.find(CudaLibraries.CUBLAS).orElseThrow(), "/usr/local/cuda comes first");
        assertTrue(none.find(CudaLibraries.CUDART).isEmpty(), "nothing outside the test's tree is seen");
    }

    @Test
    void toolkitFirstThenPythonEnvironments() throws IOException {
        Path cudart = touch("toolkit/lib64/libcudart.so.13");
        Path cublas = touch("venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublas.so.13");
        touch("home/.local/lib/python3.11/site-packages/nvidia/cublas/lib/libcublas.so.12");
        var libs = new CudaLibraries(Optional.empty(), Map.of("CUDA_HOME", dir.resolve("toolkit").toString(),
                "VIRTUAL_ENV", dir.resolve("venv").toString()), dir.resolve("home"), sys());
        assertEquals(cudart, libs.find(CudaLibraries.CUDART).orElseThrow());
        assertEquals(cublas, libs.find(CudaLibraries.CUBLAS).orElseThrow(), "the virtual environment comes before ~/.local");
        assertTrue(libs.folders().indexOf(dir.resolve("toolkit/lib64")) < libs.folders().indexOf(sys().resolve("usr/local/cuda/lib64")));
        assertTrue(libs.folders().contains(dir.resolve("home/.local/lib/python3.11/site-packages/nvidia/cublas/lib")));
    }

    @Test
    void loaderPathIsSearched() throws IOException {
        Path lib = touch("ld/libcublasLt.so.13");
        var libs = new CudaLibraries(Optional.empty(), Map.of("LD_LIBRARY_PATH", "/nonexistent:" + dir.resolve("ld")), dir, sys());
        assertEquals(lib, libs.find(CudaLibraries.CUBLAS_LT).orElseThrow());
    }

    @Test
    void anExplicitFolderIsTheOnlyPlaceLooked() throws IOException {
        touch("toolkit/lib64/libcudart.so.13");
        var libs = new CudaLibraries(Optional.of(dir.resolve("empty")), Map.of("CUDA_HOME", dir.resolve("toolkit").toString()), dir, sys());
        assertEquals(1, libs.folders().size());
        BackendException e = assertThrows(BackendException.class, () -> libs.require("CUDA runtime", CudaLibraries.CUDART));
        assertTrue(e.getMessage().contains("CUDA runtime not found") && e.getMessage().contains(dir.resolve("empty").toString())
                && e.getMessage().contains("--cuda-lib"), e.getMessage());
    }
}
