package io.headscan.testing;

import com.sun.jdi.Bootstrap;
import com.sun.jdi.Method;
import com.sun.jdi.ReferenceType;
import com.sun.jdi.VMDisconnectedException;
import com.sun.jdi.VirtualMachine;
import com.sun.jdi.connect.Connector;
import com.sun.jdi.connect.ListeningConnector;
import com.sun.jdi.event.BreakpointEvent;
import com.sun.jdi.event.ClassPrepareEvent;
import com.sun.jdi.event.Event;
import com.sun.jdi.event.EventSet;
import com.sun.jdi.event.VMDeathEvent;
import com.sun.jdi.event.VMDisconnectEvent;
import com.sun.jdi.request.BreakpointRequest;
import com.sun.jdi.request.ClassPrepareRequest;
import com.sun.jdi.request.EventRequest;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * headscan's CLI in a child JVM run under the JVM's own debugging agent (JDWP), held with every thread suspended where
 * a chosen method is entered for the n-th time: a moment the test sees from outside the child, at which it can kill
 * it. The faults a crash test needs thus come from the test side; headscan's code carries no hook for them.
 */
public final class Breakpoint implements AutoCloseable {

    /** How long a step may take before the test gives up: a guard against a hung child, never a timing the test needs. */
    private static final long GUARD_MILLIS = 180_000;

    private final ChildJvm child;
    private final VirtualMachine vm;

    private Breakpoint(ChildJvm child, VirtualMachine vm) {
        this.child = child;
        this.vm = vm;
    }

    /**
     * Starts {@code headscan args} in a child JVM and returns once its thread entering {@code className.method} for the
     * {@code hit}-th time has stopped there (all its threads with it). Fails, showing the child's output, when the child
     * ends before that.
     */
    public static Breakpoint reach(Path log, String className, String method, int hit, String... args) throws Exception {
        ListeningConnector listen = Bootstrap.virtualMachineManager().listeningConnectors().stream()
                .filter(c -> c.name().equals("com.sun.jdi.SocketListen")).findFirst().orElseThrow();
        Map<String, Connector.Argument> a = listen.defaultArguments();
        a.get("localAddress").setValue("127.0.0.1");
        a.get("port").setValue("0");
        a.get("timeout").setValue(Long.toString(GUARD_MILLIS));
        String address = listen.startListening(a);
        ChildJvm child;
        VirtualMachine vm;
        try {
            // the child connects to this test and waits, suspended, until the breakpoint is armed
            child = ChildJvm.start(log, List.of("-agentlib:jdwp=transport=dt_socket,server=n,suspend=y,address=" + address), Map.of(), args);
            try {
                vm = listen.accept(a);
            } catch (Exception e) {
                child.close();
                throw new AssertionError("the child never connected to the debugger: " + e + "\n" + child.output(), e);
            }
        } finally {
            listen.stopListening(a);
        }
        Breakpoint b = new Breakpoint(child, vm);
        try {
            b.runTo(className, method, hit);
        } catch (Throwable t) {
            b.close();
            throw t;
        }
        return b;
    }

    private void runTo(String className, String method, int hit) throws Exception {
        String where = className + "." + method + " (call " + hit + ")";
        ClassPrepareRequest prepare = vm.eventRequestManager().createClassPrepareRequest();
        prepare.addClassFilter(className);
        prepare.setSuspendPolicy(EventRequest.SUSPEND_ALL);
        prepare.enable();
        for (ReferenceType t : vm.classesByName(className)) arm(t, method, hit);
        while (true) {
            EventSet set = vm.eventQueue().remove(GUARD_MILLIS);
            if (set == null) throw new AssertionError("the child did not reach " + where + "; its output:\n" + child.output());
            for (Event e : set) {
                if (e instanceof ClassPrepareEvent p) arm(p.referenceType(), method, hit);
                else if (e instanceof BreakpointEvent) return;   // every thread stays suspended there
                else if (e instanceof VMDeathEvent || e instanceof VMDisconnectEvent) {
                    child.waitFor(3);
                    throw new AssertionError("the child ended before reaching " + where + "; its output:\n" + child.output());
                }
            }
            set.resume();
        }
    }

    private void arm(ReferenceType type, String method, int hit) {
        List<Method> found = type.methodsByName(method);
        if (found.size() != 1) throw new AssertionError(type.name() + " has " + found.size() + " methods named " + method + ", expected one");
        BreakpointRequest r = vm.eventRequestManager().createBreakpointRequest(found.getFirst().location());
        if (hit > 1) r.addCountFilter(hit);
        r.setSuspendPolicy(EventRequest.SUSPEND_ALL);
        r.enable();
    }

    public ChildJvm child() {
        return child;
    }

    /** Kills the stopped child with SIGKILL, as {@code kill -9} or the kernel's OOM killer would; returns its exit code. */
    public int kill() throws Exception {
        child.process().destroyForcibly();   // SIGKILL on Linux
        return child.waitFor(2);
    }

    @Override
    public void close() {
        try {
            vm.dispose();
        } catch (VMDisconnectedException e) {
            // the child is gone already
        }
        child.close();
    }
}
