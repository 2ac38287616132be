package io.headscan.format;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A checkpoint as the model sees it: named tensors (dtype, shape, bytes as a zero-copy view into mapped memory) from
 * one or more memory-mapped files. A safetensors file, a PyTorch zip ({@code torch.save} since 1.6) and a set of
 * shards named by an index file are three ways to get one; each validates its own container when it is opened, and no
 * caller branches on which it is (docs/formats.md).
 *
 * <p>Tensors are contiguous and little-endian; {@link #segment(TensorInfo)} gives exactly their bytes. Two tensors may
 * share bytes (PyTorch's tied {@code lm_head.weight}). Everything obtained from a checkpoint dies with {@link #close()}.
 */
public interface MappedCheckpoint extends AutoCloseable {

    /** The container a checkpoint was read from. */
    enum Format {
        SAFETENSORS("safetensors"),
        PYTORCH_ZIP("pytorch-zip"),
        SHARDED_SAFETENSORS("sharded-safetensors"),
        SHARDED_PYTORCH_ZIP("sharded-pytorch-zip");

        private final String label;

        Format(String label) {
            this.label = label;
        }

        /** The name JSON outputs and the sweep's models table use. */
        public String label() {
            return label;
        }
    }

    Format format();

    /** The file that was opened: the weights file, or the index of a sharded checkpoint. */
    Path path();

    /** Every file whose bytes back the tensors (one, or the shards in index order). */
    List<Path> files();

    /** Total size in bytes of {@link #files()}. */
    long fileSize();

    /** Tensors in storage order. */
    List<TensorInfo> tensors();

    boolean has(String name);

    /** The tensor's entry; a named {@link CheckpointFormatException} of its container (kind TENSOR_NOT_FOUND) when there is none. */
    TensorInfo info(String name);

    /** The tensor's bytes as a zero-copy, read-only slice of its file's mapping. */
    MemorySegment segment(TensorInfo t);

    default MemorySegment segment(String name) {
        return segment(info(name));
    }

    /** The file holding the tensor's bytes. */
    Path fileOf(TensorInfo t);

    /** Absolute byte offset of the tensor's first element in {@link #fileOf}. */
    long fileOffset(TensorInfo t);

    /** The container's own metadata (safetensors {@code __metadata__}, PyTorch's records); may be empty. */
    Map<String, String> metadata();

    /** One mapping per file of {@link #files()}, whole (for hashing). */
    List<MemorySegment> mappings();

    boolean isOpen();

    /** Unmaps every file; idempotent. */
    @Override
    void close();

    /**
     * Opens a checkpoint file, telling the container by its first bytes and name: a ZIP ({@code PK\3\4}) is a PyTorch
     * checkpoint, a {@code *.index.json} the index of shards, PyTorch's legacy pickle magic is refused in one line that
     * says how to convert, and anything else is read as safetensors (whose own checks then name what is wrong).
     * Every failure is a {@link CheckpointFormatException} naming the file.
     */
    static MappedCheckpoint open(Path file) {
        if (isIndexName(file)) return ShardedCheckpoint.open(file);
        return openWeights(file);
    }

    /** Whether a file's name makes it a shard index. */
    private static boolean isIndexName(Path file) {
        return file.getFileName() != null && file.getFileName().toString().endsWith(".index.json");
    }

    /**
     * Opens one weights file, a safetensors file or a PyTorch ZIP, told apart by its first bytes; never an index, so that
     * a shard can never lead to another index.
     */
    static MappedCheckpoint openWeights(Path file) {
        String special = RegularFile.problem(file);
        if (special != null) throw unreadable(file, special, null);
        byte[] head = new byte[16];
        int n = 0;
        try (InputStream in = Files.newInputStream(file)) {
            while (n < head.length) {
                int r = in.read(head, n, head.length - n);
                if (r < 0) break;
                n += r;
            }
        } catch (NoSuchFileException e) {
            throw unreadable(file, "no such file", e);
        } catch (IOException e) {
            throw unreadable(file, e.toString(), e);
        }
        if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) return PyTorchZipFile.open(file);
        if (PyTorchZipFile.isLegacy(head, n)) throw PyTorchZipFile.legacyRefusal(file);
        return SafetensorsFile.open(file);
    }

    /** A file that could not be read at all, as an error of the container its name suggests. */
    private static CheckpointFormatException unreadable(Path file, String why, IOException cause) {
        if (CheckpointFormatException.Container.byName(file) == CheckpointFormatException.Container.PYTORCH_ZIP) {
            return new PyTorchException(PyTorchException.Kind.IO, file, why, cause);
        }
        return new SafetensorsException(SafetensorsException.Kind.IO, file, null, why, cause);
    }
}
