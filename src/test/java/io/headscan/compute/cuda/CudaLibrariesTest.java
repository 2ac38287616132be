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

/** Where the CUDA libraries are looked for, on real folder trees laid out as toolkits and Python wheels lay them out. */
class CudaLibrariesTest {

    @TempDir
    Path dir;

    private Path touch(String relative) throws IOException {
        Path p = dir.resolve(relative);
        Files.createDirectories(p.getParent());
        Files.writeString(p, "not really a library");
        return p;
    }

    @Test
    void toolkitFirstThenPythonEnvironments() throws IOException {
        Path cudart = touch("toolkit/lib64/libcudart.so.13");
        Path cublas = touch("venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublas.so.13");
        touch("home/.local/lib/python3.11/site-packages/nvidia/cublas/lib/libcublas.so.12");
        var libs = new CudaLibraries(Optional.empty(), Map.of("CUDA_HOME", dir.resolve("toolkit").toString(),
                "VIRTUAL_ENV", dir.resolve("venv").toString()), dir.resolve("home"));
        assertEquals(cudart, libs.find(CudaLibraries.CUDART).orElseThrow());
        assertEquals(cublas, libs.find(CudaLibraries.CUBLAS).orElseThrow(), "the virtual environment comes before ~/.local");
        assertTrue(libs.folders().indexOf(dir.resolve("toolkit/lib64")) < libs.folders().indexOf(Path.of("/usr/local/cuda/lib64")));
        assertTrue(libs.folders().contains(dir.resolve("home/.local/lib/python3.11/site-packages/nvidia/cublas/lib")));
    }

    @Test
    void loaderPathIsSearched() throws IOException {
        Path lib = touch("ld/libcublasLt.so.13");
        var libs = new CudaLibraries(Optional.empty(), Map.of("LD_LIBRARY_PATH", "/nonexistent:" + dir.resolve("ld")), dir);
        assertEquals(lib, libs.find(CudaLibraries.CUBLAS_LT).orElseThrow());
    }

    @Test
    void anExplicitFolderIsTheOnlyPlaceLooked() throws IOException {
        touch("toolkit/lib64/libcudart.so.13");
        var libs = new CudaLibraries(Optional.of(dir.resolve("empty")), Map.of("CUDA_HOME", dir.resolve("toolkit").toString()), dir);
        assertEquals(1, libs.folders().size());
        BackendException e = assertThrows(BackendException.class, () -> libs.require("CUDA runtime", CudaLibraries.CUDART));
        assertTrue(e.getMessage().contains("CUDA runtime not found") && e.getMessage().contains(dir.resolve("empty").toString())
                && e.getMessage().contains("--cuda-lib"), e.getMessage());
    }
}
