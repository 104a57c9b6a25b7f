#pragma once

#include <QObject>
#include <QSocketNotifier>
#include <memory>

// Turns SIGTERM/SIGINT into a Qt signal in the event loop: the async-signal-safe
// handler only writes the signal number to one end of a socket pair; a
// QSocketNotifier on the other end reads it in the thread of this object.
// One instance per process.
class UnixSignalWatcher : public QObject
{
    Q_OBJECT
public:
    explicit UnixSignalWatcher(QObject *parent = nullptr);
    ~UnixSignalWatcher() override;

    bool watch(int signalNumber);

Q_SIGNALS:
    void received(int signalNumber);

private:
    void readSignal();
    std::unique_ptr<QSocketNotifier> m_notifier;
};
