package io.headscan.sweep;

import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Driver;
import java.sql.SQLException;
import java.util.Properties;

/**
 * DuckDB's JDBC driver, found on the class path (an embedding application's) or else in {@code lib/} beside headscan's
 * jar (or beside target/classes), where the build unpacks it: its classes in {@code lib/duckdb/}, its native libraries
 * as files in {@code lib/}. The driver then loads its library from there in place; from a jar that holds it, it would
 * extract 71 MB into a temporary file on every start. Not inside the runnable jar (240 MB of natives for four
 * platforms); only {@code sweep} ever loads it.
 */
final class DuckDb {

    static final String DRIVER = "org.duckdb.DuckDBDriver";
    private static Driver driver;

    private DuckDb() {}

    /** A connection to a database file, or to a database in memory when {@code file} is null. */
    static Connection connect(Path file) throws SQLException {
        return driver().connect("jdbc:duckdb:" + (file == null ? "" : file.toAbsolutePath()), new Properties());
    }

    /** The driver's class: its class loader is the one that has the rest of DuckDB's classes. */
    static Class<?> driverClass() throws SQLException {
        return driver().getClass();
    }

    private static synchronized Driver driver() throws SQLException {
        if (driver != null) return driver;
        Class<?> c;
        try {
            c = Class.forName(DRIVER);
        } catch (ClassNotFoundException e) {
            Path classes = besideTheJar();
            if (classes == null || !Files.isRegularFile(classes.resolve("org/duckdb/DuckDBDriver.class"))) {
                throw new SQLException("sweep needs DuckDB's JDBC driver: " + (classes == null ? "lib/duckdb/" : classes)
                        + " is missing; rebuild with './mvnw package' (it unpacks it there)");
            }
            try {
                URLClassLoader loader = new URLClassLoader(new URL[] {classes.toUri().toURL()}, DuckDb.class.getClassLoader());
                c = Class.forName(DRIVER, true, loader);
            } catch (ReflectiveOperationException | java.net.MalformedURLException | LinkageError ex) {
                throw new SQLException("cannot load DuckDB from " + classes + ": " + ex, ex);
            }
        }
        try {
            driver = (Driver) c.getDeclaredConstructor().newInstance();
        } catch (ReflectiveOperationException | LinkageError e) {
            throw new SQLException("cannot start DuckDB's driver: " + e, e);
        }
        return driver;
    }

    private static Path besideTheJar() {
        try {
            var src = DuckDb.class.getProtectionDomain().getCodeSource();
            if (src == null) return null;
            Path self = Path.of(src.getLocation().toURI());
            return self.getParent() == null ? null : self.getParent().resolve("lib").resolve("duckdb");
        } catch (Exception e) {
            return null;
        }
    }
}
