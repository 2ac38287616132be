package io.headscan.spark;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.model.Dims;
import io.headscan.model.HeadId;
import io.headscan.synth.SyntheticGpt2;
import io.headscan.testing.ChildJvm;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real Spark standalone cluster on loopback: a Master and two Workers (one core each) as separate JVMs started from
 * the Maven jars, with a stub Spark home ({@code jars/} and {@code SPARK_SCALA_VERSION}); each worker starts its
 * executor as a JVM of its own. The sweep is submitted to it from the CLI as the driver; one executor JVM is killed
 * mid-job, and then the driver itself, and every checkpoint must end up in the dataset exactly once.
 */
@org.junit.jupiter.api.TestMethodOrder(org.junit.jupiter.api.MethodOrderer.OrderAnnotation.class)
class SparkClusterTest {

    static final Dims DIMS = new Dims(3000, 96, 6, 4, 192, 8);
    static final int N = 8;
    static final int ROWS = 6 * 4 * 4 * 2;   // heads x metrics x seeds

    @TempDir
    static Path dir;
    static Path run;
    static Path sparkHome;
    static final List<Process> cluster = new ArrayList<>();
    static String master;
    static int ui;

    @BeforeAll
    static void start() throws Exception {
        run = dir.resolve("run");
        for (int i = 1; i <= N; i++) new SyntheticGpt2(DIMS, 80 + i, List.of(new HeadId(5, i % 4))).write(run.resolve("checkpoint-" + i), 2);
        // the stub Spark home: the jars of this class path (Spark's among them), and the Scala version
        Path home = dir.resolve("spark-home");
        sparkHome = home;
        Files.createDirectories(home.resolve("jars"));
        Files.createDirectories(home.resolve("conf"));
        for (String e : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
            Path p = Path.of(e);
            if (e.endsWith(".jar") && Files.isRegularFile(p)) {
                Path link = home.resolve("jars").resolve(p.getFileName());
                if (!Files.exists(link)) Files.createSymbolicLink(link, p.toAbsolutePath());
            }
        }
        int port = freePort();
        ui = freePort();
        master = "spark://127.0.0.1:" + port;
        cluster.add(daemon(home, "master.log", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", "" + port,
                "--webui-port", "" + ui));
        for (int w = 1; w <= 2; w++) {
            cluster.add(daemon(home, "worker" + w + ".log", "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", "1",
                    "--memory", "1536m", "--webui-port", "" + freePort(), "--work-dir", dir.resolve("work" + w).toString(), master));
        }
        long deadline = System.nanoTime() + 120_000_000_000L;
        HttpClient http = HttpClient.newHttpClient();
        while (true) {
            try {
                String json = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + ui + "/json/")).timeout(Duration.ofSeconds(5)).build(),
                        HttpResponse.BodyHandlers.ofString()).body();
                if (json.contains("\"aliveworkers\" : 2")) break;
            } catch (IOException e) {
                // not up yet
            }
            assertTrue(System.nanoTime() < deadline, "the cluster did not come up: " + Files.readString(dir.resolve("master.log"))
                    + Files.readString(dir.resolve("worker1.log")));
            Thread.sleep(250);
        }
    }

    private static Process daemon(Path home, String log, String main, String... args) throws IOException {
        return daemon(home, log, List.of(), main, args);
    }

    private static Process daemon(Path home, String log, List<String> props, String main, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"), "-Xmx512m"));
        cmd.addAll(props);
        cmd.addAll(SparkRun.JVM.subList(2, SparkRun.JVM.size()));
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), main));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve(log).toFile());
        pb.environment().putAll(SparkRun.ENV);
        pb.environment().put("SPARK_HOME", home.toString());
        pb.environment().put("SPARK_SCALA_VERSION", "2.13");
        pb.environment().put("JAVA_HOME", Path.of(ProcessHandle.current().info().command().orElseThrow()).getParent().getParent().toString());
        return pb.start();
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @AfterAll
    static void stop() throws Exception {
        for (ProcessHandle p : executors()) p.destroyForcibly();
        for (Process p : cluster) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            p.waitFor(30, TimeUnit.SECONDS);
        }
    }

    /** The executor JVMs the workers started. */
    static List<ProcessHandle> executors() {
        List<ProcessHandle> out = new ArrayList<>();
        for (Process w : cluster) w.descendants().filter(p -> cmdline(p).contains("CoarseGrainedExecutorBackend")).forEach(out::add);
        return out;
    }

    /** A process's command line from /proc (ProcessHandle.Info may leave long ones out). */
    static String cmdline(ProcessHandle p) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc", Long.toString(p.pid()), "cmdline"))).replace('\0', ' ');
        } catch (IOException e) {
            return p.info().commandLine().orElse("");
        }
    }

    private String[] sweep(Path out) {
        return new String[] {"sweep", run + "/checkpoint-*", "--score", "--seeds", "0,1", "--bag-size", "32", "--spark", master, "--out", out.toString(),
                "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.executor.memory=1g", "--conf", "spark.cores.max=2",
                "--conf", "spark.executor.extraClassPath=" + System.getProperty("java.class.path")};
    }

    private static void await(ChildJvm c, String text, long seconds) throws Exception {
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        while (!c.output().contains(text)) {
            assertTrue(c.process().isAlive(), "ended before '" + text + "': " + c.output());
            assertTrue(System.nanoTime() < deadline, "no '" + text + "' in " + seconds + " s: " + c.output());
            Thread.sleep(50);
        }
    }

    /**
     * GPU scheduling: a third worker offers two GPUs found by a fake discovery script (addresses 0 and 1), the sweep
     * asks one GPU per task, and each task opens cuBLAS on the address Spark gave it. Where a task computed is the
     * device of the backend it computed with ({@code CublasBackend.device()}, stored in {@code models.gpu}); where it
     * could not open one, the device the opening code was asked for, carried by its failure ({@code errors.gpu}). A GPU
     * that does not open is the task's failure, not the checkpoint's: Spark retries it (spark.task.maxFailures, 4 here)
     * before the driver records it. Without a GPU nothing computes, and that is checked up to the CUDA call: every
     * checkpoint ends as an error of its fourth attempt, and both addresses were tried.
     */
    @Test
    @org.junit.jupiter.api.Order(2)   // after the two-worker test: this one adds a third worker
    void eachTaskOpensTheGpuSparkAssignedIt() throws Exception {
        Path script = dir.resolve("gpus.sh");
        Files.writeString(script, "#!/bin/sh\necho '{\"name\": \"gpu\", \"addresses\": [\"0\", \"1\"]}'\n");
        script.toFile().setExecutable(true);
        Process gpuWorker = daemon(sparkHome, "worker-gpu.log", List.of("-Dspark.worker.resource.gpu.amount=2",
                "-Dspark.worker.resource.gpu.discoveryScript=" + script), "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                "--cores", "2", "--memory", "1536m", "--webui-port", "" + freePort(), "--work-dir", dir.resolve("work-gpu").toString(), master);
        cluster.add(gpuWorker);
        long deadline = System.nanoTime() + 120_000_000_000L;
        HttpClient http = HttpClient.newHttpClient();
        while (!http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + ui + "/json/")).build(), HttpResponse.BodyHandlers.ofString())
                .body().contains("\"aliveworkers\" : 3")) {
            assertTrue(System.nanoTime() < deadline, Files.readString(dir.resolve("worker-gpu.log")));
            Thread.sleep(250);
        }
        Path out = dir.resolve("gpu-ds");
        List<String> args = new ArrayList<>(List.of("sweep", run + "/checkpoint-1", run + "/checkpoint-2", run + "/checkpoint-3", run + "/checkpoint-4",
                "--score", "--bag-size", "32", "--spark", master, "--out", out.toString(),
                "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.executor.memory=1g", "--conf", "spark.cores.max=2",
                "--conf", "spark.executor.cores=2", "--conf", "spark.executor.resource.gpu.amount=2", "--conf", "spark.task.resource.gpu.amount=1",
                "--conf", "spark.executor.extraClassPath=" + System.getProperty("java.class.path")));
        SparkRun.Result r = SparkRun.run(dir, Map.of(), args.toArray(String[]::new));
        java.util.Set<Integer> computedOn = new java.util.TreeSet<>(), failedOn = new java.util.TreeSet<>();
        try (var db = io.headscan.sweep.ParquetDataset.open(out); var s = db.createStatement()) {
            try (var rs = s.executeQuery("SELECT gpu FROM models")) {
                while (rs.next()) {
                    assertNotNull(rs.getObject(1), "a task that computed on a GPU records its device");
                    computedOn.add(rs.getInt(1));
                }
            }
            try (var rs = s.executeQuery("SELECT gpu, task_attempt, message FROM errors")) {
                while (rs.next()) {
                    int gpu = rs.getInt(1);
                    failedOn.add(gpu);
                    assertEquals(3, rs.getInt(2), "recorded after Spark's fourth attempt: " + rs.getString(3));
                    assertTrue(rs.getString(3).startsWith("GPU " + gpu + " (assigned by Spark) on executor "), "the message names the same device: " + rs.getString(3));
                }
            }
        }
        // every attempt that failed to open a GPU, as Spark logged it: the device its exception carried
        java.util.Set<Integer> tried = new java.util.TreeSet<>();
        var m = java.util.regex.Pattern.compile("TaskFailure: GPU ([0-9]+) \\(assigned by Spark\\)").matcher(r.out());
        while (m.find()) tried.add(Integer.parseInt(m.group(1)));
        assertEquals(4, SparkRun.count(out, "SELECT count(*) FROM models") + SparkRun.count(out, "SELECT count(*) FROM errors"), r.out());
        if (!io.headscan.testing.ParityFixture.gpuPresent()) {
            assertEquals(1, r.code(), r.out());
            assertEquals(java.util.Set.of(), computedOn, r.out());
            assertTrue(java.util.Set.of(0, 1).containsAll(failedOn) && !failedOn.isEmpty(), failedOn + " " + r.out());
            assertEquals(java.util.Set.of(0, 1), tried, "both addresses were opened, each as Spark assigned it: " + r.out());
        } else {
            // a GPU machine (the fake script offers 0 and 1 whatever it has): what computed says which device computed
            assertFalse(computedOn.isEmpty(), r.out());
            assertTrue(java.util.Set.of(0, 1).containsAll(computedOn), computedOn + " " + r.out());
            java.util.Set<Integer> all = new java.util.TreeSet<>(computedOn);
            all.addAll(tried);
            assertEquals(java.util.Set.of(0, 1), all, "each address was opened: " + r.out());
        }
    }

    @Test
    @org.junit.jupiter.api.Order(1)
    void aLostExecutorAndAKilledDriverLeaveEveryCheckpointExactlyOnce() throws Exception {
        Path out = dir.resolve("ds");
        // 1. one executor JVM killed mid-job: its task runs again elsewhere
        try (ChildJvm driver = SparkRun.start(dir.resolve("driver1.log"), Map.of(), sweep(out))) {
            await(driver, "[2/" + N + "]", 180);
            List<ProcessHandle> ex = executors();
            assertFalse(ex.isEmpty(), "the executor JVMs the workers started");
            ex.getFirst().destroyForcibly();
            assertEquals(0, driver.waitFor(4), driver.output());
            String o = driver.output();
            assertTrue(o.contains("sweep: " + N + " checkpoints: " + N + " computed, 0 skipped, 0 failed"), o);
            java.util.Set<String> ids = new java.util.TreeSet<>();
            var m = java.util.regex.Pattern.compile("on executor ([0-9]+)@").matcher(o);
            while (m.find()) ids.add(m.group(1));
            assertTrue(ids.size() >= 2, "checkpoints computed on more than one executor JVM: " + ids + "\n" + o);
        }
        assertEquals(N, SparkRun.count(out, "SELECT count(*) FROM models"));
        assertEquals((long) N * ROWS, SparkRun.count(out, "SELECT count(*) FROM results"), "every checkpoint once");

        // 2. the driver killed: the command run again completes, duplicating nothing
        Path out2 = dir.resolve("ds2");
        try (ChildJvm driver = SparkRun.start(dir.resolve("driver2.log"), Map.of(), sweep(out2))) {
            await(driver, "[2/" + N + "]", 180);
            driver.process().destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
        long before = SparkRun.count(out2, "SELECT count(*) FROM models");
        assertTrue(before >= 2 && before < N, before + " checkpoints committed before the driver died");
        SparkRun.Result again = SparkRun.run(dir, Map.of(), sweep(out2));
        assertEquals(0, again.code(), again.out());
        assertTrue(again.out().contains((N - before) + " computed, " + before + " skipped"), again.out());
        assertEquals(N, SparkRun.count(out2, "SELECT count(*) FROM models"));
        assertEquals((long) N * ROWS, SparkRun.count(out2, "SELECT count(*) FROM results"));
        assertEquals(0, SparkRun.count(out2, "SELECT count(*) FROM (SELECT spec, definition, layer, head, metric FROM scores GROUP BY ALL HAVING count(*) > 1)"));
    }

    /**
     * {@code spark-submit --deploy-mode cluster}: the master starts the driver on a worker, from a job jar that holds
     * headscan's own classes only (as target/headscan.jar; the workers' class path has Spark and the dependencies), so
     * the driver and every thread Spark starts must load the sweep's classes through the job jar's class loader.
     */
    @Test
    @org.junit.jupiter.api.Order(3)
    void sparkSubmitInClusterModeRunsTheDriverOnAWorker() throws Exception {
        Path jar = dir.resolve("job.jar");
        try (var zip = new java.util.jar.JarOutputStream(Files.newOutputStream(jar))) {
            for (String e : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
                Path root = Path.of(e);
                if (!Files.isDirectory(root.resolve("io/headscan")) || e.contains("test-classes")) continue;
                try (var files = Files.walk(root)) {
                    for (Path f : files.filter(Files::isRegularFile).toList()) {
                        zip.putNextEntry(new java.util.jar.JarEntry(root.relativize(f).toString().replace('\\', '/')));
                        Files.copy(f, zip);
                        zip.closeEntry();
                    }
                }
            }
        }
        Path out = dir.resolve("ds-cluster-mode");
        Process submit = daemon(sparkHome, "submit.log", List.of(), "org.apache.spark.deploy.SparkSubmit", "--master", master,
                "--deploy-mode", "cluster", "--class", "io.headscan.spark.SparkSweep", "--conf", "spark.executor.memory=1g",
                "--conf", "spark.driver.memory=512m", "--conf", "spark.cores.max=1", "--conf", "spark.standalone.submit.waitAppCompletion=true",
                jar.toString(), run + "/checkpoint-*", "--score", "--seeds", "0,1", "--bag-size", "32", "--out", out.toString());
        assertTrue(submit.waitFor(240, TimeUnit.SECONDS), "spark-submit still running: " + Files.readString(dir.resolve("submit.log")));
        String log = Files.readString(dir.resolve("submit.log"));
        StringBuilder drivers = new StringBuilder();
        try (var works = Files.newDirectoryStream(dir, "work*")) {   // whichever worker the master chose
            for (Path work : works) {
                if (!Files.isDirectory(work)) continue;
                try (var ds = Files.newDirectoryStream(work, "driver-*")) {
                    for (Path d : ds) drivers.append(Files.readString(d.resolve("stdout")));
                }
            }
        }
        assertEquals(0, submit.exitValue(), "spark-submit waits for the driver and exits 0 only when it FINISHED: " + log + drivers);
        assertTrue(drivers.toString().contains("sweep: " + N + " checkpoints: " + N + " computed, 0 skipped, 0 failed"), drivers.toString());
        assertEquals(N, SparkRun.count(out, "SELECT count(*) FROM models"));
        assertEquals((long) N * ROWS, SparkRun.count(out, "SELECT count(*) FROM results"));
    }
}
