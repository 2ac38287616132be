package io.headscan.compute.cuda;

import io.headscan.compute.BackendException;

/**
 * The GPU faulted (an illegal address, a kernel that trapped): CUDA keeps such an error in the context for the rest of
 * the process, so nothing more can run on that GPU here. {@code --backend auto} then computes on the CPU and says why;
 * {@code --backend cublas} stops with this message.
 */
public final class GpuFaultException extends BackendException {

    public GpuFaultException(String message) {
        super(message);
    }
}
