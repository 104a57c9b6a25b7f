// StoreReader's thread and worker: a job runs in the reader's thread and its
// result comes back; a reader destroyed (started or not) leaves nothing behind.

#include "sagastore.h"
#include "storereader.h"
#include "threadexit.h"
#include "testservices.h"

#include <QSemaphore>
#include <QSignalSpy>
#include <QSqlDatabase>
#include <QTest>
#include <QThread>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

namespace {
constexpr int kTimeout = 30000;

DatabaseUrl sqliteIn(const QString &name)
{
    return *DatabaseUrl::parse(QStringLiteral("sqlite:") + TestServices::tempDir() + QLatin1Char('/') + name,
                               nullptr);
}
} // namespace

class tst_StoreReader : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void jobRunsInTheReadersThread();
    void destroyedBeforeStartLeavesNothingBehind();
    void destroyedWhileAJobHangsDoesNotWaitForIt();
};

// A started reader runs a job in its own thread, hands the result back in the
// caller's thread, and lets go of the job when it is destroyed.
void tst_StoreReader::jobRunsInTheReadersThread()
{
    auto held = std::make_shared<int>(0);
    QThread *jobThread = nullptr;
    int answer = 0;
    {
        StoreReader reader(sqliteIn(QStringLiteral("started.sqlite")), QStringLiteral("tst-storereader-started"));
        QSignalSpy opened(&reader, &StoreReader::opened);
        QVERIFY(opened.isValid());
        reader.start();
        QTRY_COMPARE_WITH_TIMEOUT(opened.count(), 1, kTimeout); // the file does not exist: read-only, not opened
        reader.run(
            [held, &jobThread](SagaStore &) {
                jobThread = QThread::currentThread();
                return 42;
            },
            this, [&answer](int result) { answer = result; });
        QTRY_COMPARE_WITH_TIMEOUT(answer, 42, kTimeout);
        QVERIFY(jobThread);
        QVERIFY(jobThread != QThread::currentThread());
    }
    QCOMPARE(held.use_count(), 1);
}

// A source replaced or closed before its engine or database was up destroys a
// reader that was never started: its worker (moved to a thread that never ran,
// so no QThread::finished to delete it) and the jobs queued for it went with it
// only since ~StoreReader deletes it. Before, they leaked: the job below stayed
// held, and the sanitizer build (scripts/sanitize.sh) reported the worker as a
// leak (tst_embeddedconsole::retriedOrderStaysTheOneShown ends that way).
void tst_StoreReader::destroyedBeforeStartLeavesNothingBehind()
{
    auto held = std::make_shared<int>(0);
    bool answered = false;
    {
        StoreReader reader(sqliteIn(QStringLiteral("never.sqlite")), QStringLiteral("tst-storereader-never"));
        reader.run([held](SagaStore &) { return 1; }, this, [&answered](int) { answered = true; });
        QCOMPARE(held.use_count(), 2); // queued for the worker
    }
    QCOMPARE(held.use_count(), 1);
    QCoreApplication::processEvents();
    QVERIFY(!answered); // never ran
}

// The probe: a database console whose PostgreSQL froze (its backend stopped, the
// connection kept: no timeout ends the query). The banner said it had not answered
// for 15 s; File > Quit then closed the window but the process hung in
// ~StoreReader (QThread::wait) until the backend was resumed, and File > Connect
// to another source froze the window the same way. A reader destroyed while a job
// hangs no longer waits for it: its thread ends by itself after the job, the job's
// answer is dropped, and the worker and its connection go with the thread.
void tst_StoreReader::destroyedWhileAJobHangsDoesNotWaitForIt()
{
    auto started = std::make_shared<QSemaphore>(0);
    auto release = std::make_shared<QSemaphore>(0);
    auto ended = std::make_shared<std::atomic<bool>>(false);
    bool answered = false;
    auto *reader = new StoreReader(sqliteIn(QStringLiteral("hangs.sqlite")), QStringLiteral("tst-storereader-hangs"));
    const QString connection = reader->connectionName();
    QSignalSpy opened(reader, &StoreReader::opened);
    reader->start();
    QTRY_COMPARE_WITH_TIMEOUT(opened.count(), 1, kTimeout);
    reader->run(
        [started, release, ended](SagaStore &) {
            started->release();
            release->acquire(); // a query that does not come back
            *ended = true;
            return 1;
        },
        this, [&answered](int) { answered = true; });
    QVERIFY(started->tryAcquire(1, kTimeout));
    QVERIFY(QSqlDatabase::contains(connection));

    // Should the destructor wait for the job, the job is let go after 20 s so that
    // the test ends (and fails) instead of hanging.
    std::atomic<bool> destroyed{false};
    std::atomic<bool> hadToLetGo{false};
    std::thread breaker([&destroyed, &hadToLetGo, release] {
        for (int i = 0; i < 200 && !destroyed; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (!destroyed) {
            hadToLetGo = true;
            release->release();
        }
    });
    delete reader;
    destroyed = true;
    breaker.join();
    QVERIFY2(!hadToLetGo, "~StoreReader waited for the hanging job");
    QVERIFY(!*ended);
    QCOMPARE(ThreadExit::leftRunning(), 1); // (saga-console then ends without static destructors)

    // The database answers: the thread ends by itself, its answer is not delivered.
    release->release();
    QTRY_VERIFY_WITH_TIMEOUT(*ended, kTimeout);
    QTRY_VERIFY_WITH_TIMEOUT(!QSqlDatabase::contains(connection), kTimeout); // the worker is gone
    QTRY_COMPARE_WITH_TIMEOUT(ThreadExit::leftRunning(), 0, kTimeout);
    QCoreApplication::processEvents();
    QVERIFY(!answered);
}

QTEST_GUILESS_MAIN(tst_StoreReader)
#include "tst_storereader.moc"
