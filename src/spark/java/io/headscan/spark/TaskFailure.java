package io.headscan.spark;

/**
 * A task that failed for a reason of its executor rather than of its checkpoint: a download cut or refused by the
 * network, a full disk, a GPU that does not open or faulted, an error in the executor's own code. Thrown out of the
 * task so that Spark runs it again (on another executor when it can) up to {@code spark.task.maxFailures} times; the
 * driver then records its one-line message as the checkpoint's error. It carries where it happened: the executor, the
 * CUDA device the code that opened (or used) it was asked for, and Spark's attempt number.
 */
final class TaskFailure extends RuntimeException {

    private final String executor;
    private final Integer gpu;
    private final int taskAttempt;

    TaskFailure(String message, String executor, Integer gpu, int taskAttempt, Throwable cause) {
        super(message.replace('\n', ' '), cause);
        this.executor = executor;
        this.gpu = gpu;
        this.taskAttempt = taskAttempt;
    }

    Dataset.Where where() {
        return new Dataset.Where(executor, gpu, taskAttempt);
    }

    /** The first TaskFailure in {@code e}'s chain of causes (Spark hands the last attempt's exception back as one), or null. */
    static TaskFailure in(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof TaskFailure f) return f;
        }
        return null;
    }
}
