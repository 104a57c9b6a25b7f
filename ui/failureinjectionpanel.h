#pragma once

#include "faultplan.h"

#include <QPointer>
#include <QWidget>
#include <array>

class ProgressSource;
class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QPushButton;
class QSpinBox;

// Edits the fault plan of the simulated steps: per step fail with a code, add a
// delay, time out, or fail its compensation; once or with a probability. Apply
// sends it through the source (the embedded engine, or saga-server's
// /api/simulator/faults for a SUPPORT token).
class FailureInjectionPanel : public QWidget
{
    Q_OBJECT
public:
    explicit FailureInjectionPanel(QWidget *parent = nullptr);

    void setSource(ProgressSource *source);
    FaultPlan plan() const;
    void setPlan(const FaultPlan &plan);
    QString statusText() const;

    // Per-step editors, for tests.
    QComboBox *kindCombo(SagaStep step) const { return m_rows[size_t(step)].kind; }
    QComboBox *codeCombo(SagaStep step) const { return m_rows[size_t(step)].code; }
    QDoubleSpinBox *probabilitySpin(SagaStep step) const { return m_rows[size_t(step)].probability; }
    QCheckBox *onceCheck(SagaStep step) const { return m_rows[size_t(step)].once; }
    QPushButton *applyButton() const { return m_apply; }

public Q_SLOTS:
    void apply();
    void clearAll();
    void reloadFromSource();

Q_SIGNALS:
    void applied(const FaultPlan &plan);
    void message(const QString &text);

private:
    void updateRow(SagaStep step);
    void setStatus(const QString &text, bool error);

    struct Row {
        QComboBox *kind = nullptr;
        QComboBox *code = nullptr;
        QSpinBox *delay = nullptr;
        QDoubleSpinBox *probability = nullptr;
        QCheckBox *once = nullptr;
    };
    std::array<Row, kStepCount> m_rows;
    QPointer<ProgressSource> m_source;
    QPushButton *m_apply = nullptr;
    QPushButton *m_clear = nullptr;
    QLabel *m_status = nullptr;
};
