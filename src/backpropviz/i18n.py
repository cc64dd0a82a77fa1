"""Labels in English and Japanese, from one catalogue.

The Japanese titles and labels of the overview are the article's own, so that a reader of the
article recognises every panel.

>>> t("graph1_title", "ja")
'グラフ1: 決定境界の変化'
>>> t("suptitle_gate", "en", optimizer="SGD", gate="AND")
'Learning with SGD, visualised (AND gate)'
"""

from __future__ import annotations

import os
import re

from .errors import BackpropvizError

LANGS = ("en", "ja")

# key -> {"en": ..., "ja": ...}; ``{name}`` fields are filled by ``t(key, lang, name=...)``.
CATALOGUE: dict[str, dict[str, str]] = {
    # -- overview (the article's 2x2 figure) -------------------------------------------------
    "suptitle_gate": {
        "en": "Learning with {optimizer}, visualised ({gate} gate)",
        "ja": "{optimizer}による学習過程の可視化 ({gate}ゲート)",
    },
    "suptitle_data": {
        "en": "Learning with {optimizer}, visualised ({data})",
        "ja": "{optimizer}による学習過程の可視化 ({data})",
    },
    "graph1_title": {"en": "Graph 1: how the decision boundary moved",
                     "ja": "グラフ1: 決定境界の変化"},
    "graph2_title": {"en": "Graph 2: parameters during training",
                     "ja": "グラフ2: パラメータの学習推移"},
    "graph3_title": {"en": "Graph 3: loss surface (2D contours) and learning path",
                     "ja": "グラフ3: 損失曲面 (2D等高線) と学習経路"},
    "graph4_title": {"en": "Graph 4: 3D loss surface and learning path",
                     "ja": "グラフ4: 3D損失曲面と学習経路"},
    # -- axes -----------------------------------------------------------------------------------
    "input": {"en": "input {name}", "ja": "入力 {name}"},
    "weight": {"en": "weight {name}", "ja": "重み {name}"},
    "bias": {"en": "bias {name}", "ja": "バイアス {name}"},
    "parameter": {"en": "parameter {name}", "ja": "パラメータ {name}"},
    "epochs": {"en": "epochs", "ja": "エポック数"},
    "param_value": {"en": "parameter value", "ja": "パラメータの値"},
    "loss_value": {"en": "loss", "ja": "損失の値"},
    "loss_value_log": {"en": "loss (log scale)", "ja": "損失の値 (対数目盛)"},
    # -- legends --------------------------------------------------------------------------------
    "class_false": {"en": "0 (False)", "ja": "0 (偽)"},
    "class_true": {"en": "1 (True)", "ja": "1 (真)"},
    "class_n": {"en": "class {name}", "ja": "クラス {name}"},
    "boundary_initial": {"en": "initial boundary", "ja": "初期値の境界"},
    "boundary_final": {"en": "boundary after training", "ja": "学習後の境界"},
    "boundary_epoch": {"en": "boundary at epoch {epoch}", "ja": "エポック {epoch} の境界"},
    "boundary_epochs": {"en": "boundaries at epochs {epochs} (darker = later)",
                        "ja": "エポック {epochs} の境界 (濃いほど後のエポック)"},
    "outside_view": {"en": " (outside the view)", "ja": " (表示範囲外)"},
    "no_boundary_flat": {"en": "{when}, no boundary:\nthe output is {p:.2f} everywhere",
                         "ja": "{when}: 境界なし (出力はどこでも {p:.2f})"},
    "flat_when_initial": {"en": "initially", "ja": "初期値"},
    "flat_when_final": {"en": "after training", "ja": "学習後"},
    "flat_when_epoch": {"en": "at epoch {epoch}", "ja": "エポック {epoch}"},
    "diverged_note": {"en": "This run diverged at step {step}: shown are the {step} steps before it, the last finite ones.",
                      "ja": "この学習はステップ {step} で発散した。図はその前の有限な {step} ステップを示す。"},
    "diverged_note_first": {"en": "This run diverged at its first step (step 0): no step completed.",
                            "ja": "この学習は最初のステップ (ステップ 0) で発散した。完了したステップはない。"},
    "diverged_note_run": {"en": "Run {run} diverged at step {step}: shown are the {step} steps before it, the last finite ones.",
                          "ja": "{run} の学習はステップ {step} で発散した。図はその前の有限な {step} ステップを示す。"},
    "diverged_note_first_run": {"en": "Run {run} diverged at its first step (step 0): no step completed.",
                                "ja": "{run} の学習は最初のステップ (ステップ 0) で発散した。完了したステップはない。"},
    "slice_no_finite": {"en": "no finite loss anywhere on this slice:\nthe parameters held fixed are too large here",
                        "ja": "この断面には有限な損失がない。\n固定したパラメータの値がここでは大きすぎる"},
    "loss_none": {"en": "no step completed before the run diverged",
                  "ja": "発散する前に完了したステップはない"},
    "path": {"en": "learning path", "ja": "学習経路"},
    "start": {"en": "start", "ja": "開始点"},
    "end": {"en": "end", "ja": "最終点"},
    "path_projected": {"en": "path projected onto the surface ({fixed} fixed)",
                       "ja": "曲面への投影経路 ({fixed}は固定)"},
    "path_projected_plane": {"en": "path projected onto the plane",
                             "ja": "平面への投影経路"},
    "path_actual": {"en": "loss training actually saw",
                    "ja": "学習時の実際の損失"},
    "path_actual_full": {"en": "whole training set's loss along the path (the steps trained on batches)",
                         "ja": "経路上の訓練データ全体の損失 (各ステップはバッチで学習)"},
    # -- what a slice holds fixed ---------------------------------------------------------------
    "colorbar_fixed": {"en": "loss ({fixed})", "ja": "損失の値 ({fixed})"},
    "fixed_final": {"en": "{name} fixed at its final value {value}",
                    "ja": "{name}は最終値 {value} に固定"},
    "fixed_at_step": {"en": "{name} fixed at its step-{step} value {value}",
                      "ja": "{name}はステップ {step} の値 {value} に固定"},
    "fixed_many": {"en": "{count} other parameters fixed at their step-{step} values",
                   "ja": "他の {count} 個のパラメータはステップ {step} の値に固定"},
    "moved_many": {"en": "{count} fixed parameters changed", "ja": "固定した {count} 個のパラメータが変化"},
    "slice_note_moved": {
        "en": "Colours: the loss with {fixed}.\nDuring training {moved},\n"
              "so the path is projected onto this slice.",
        "ja": "色: この断面での損失 ({fixed})。\n"
              "学習中に変化したパラメータがあるため ({moved})、\n"
              "経路はこの断面に投影したもの。",
    },
    "slice_note_still": {
        "en": "The path lies on this slice:\n{fixed} did not change during training.",
        "ja": "経路はこの断面上にある\n"
              "({fixed} は学習中に変化しない)。",
    },
    "surface_note_moved": {
        "en": "Dashed: heights on the slice, not the losses training saw\n({moved}).\n"
              "Solid: the loss training actually saw at each step.",
        "ja": "破線: 断面上の高さで、学習時の損失とは異なる\n"
              "({moved})。\n"
              "実線: 学習時に各ステップで実際に計算した損失。",
    },
    "surface_note_still": {
        "en": "{fixed} did not change during training:\nthe path's heights are the training losses.",
        "ja": "{fixed} は学習中に変化しないため、\n"
              "経路の高さは学習時の損失と一致する。",
    },
    "surface_note_moved_batch": {
        "en": "Dashed: heights on the slice, not the whole training set's loss\n({moved}).\n"
              "Solid: the whole training set's loss at each step's parameters\n(each step itself saw only its batch).",
        "ja": "破線: 断面上の高さで、訓練データ全体の損失とは異なる\n"
              "({moved})。\n"
              "実線: 各ステップのパラメータでの訓練データ全体の損失\n(各ステップ自体はバッチの損失だけを見た)。",
    },
    "surface_note_still_batch": {
        "en": "{fixed} did not change during training:\nthe path's heights are the whole training set's losses\n"
              "(each step itself saw only its batch).",
        "ja": "{fixed} は学習中に変化しないため、\n"
              "経路の高さは訓練データ全体の損失と一致する\n(各ステップ自体はバッチの損失だけを見た)。",
    },
    "off_plane": {"en": "the path lies up to {dist} away from the plane",
                  "ja": "実際の経路は平面から最大 {dist} 離れている"},
    "plane_note_projected": {
        "en": "The path is projected onto this plane:\n{off}.",
        "ja": "経路はこの平面に投影したもの:\n"
              "{off}。",
    },
    "plane_note_on": {"en": "The path lies in this plane.", "ja": "経路はこの平面上にある。"},
    "follow_note": {
        "en": "Other parameters follow the recorded path,\nso the path lies on this surface.",
        "ja": "他のパラメータは記録された経路の値をとるため、\n"
              "経路はこの曲面上にある。",
    },
    "moved": {"en": "{name} went {start} → {end}", "ja": "{name}: {start} → {end}"},
    # -- loss curve -----------------------------------------------------------------------------
    "loss_curve_title_gate": {"en": "Training loss ({gate} gate)",
                              "ja": "学習時の損失の推移 ({gate}ゲート)"},
    "loss_curve_title_data": {"en": "Training loss ({data})", "ja": "学習時の損失の推移 ({data})"},
    "loss_curve_label": {"en": "loss of each step's batch", "ja": "各ステップのバッチの損失"},
    # -- network views (probability maps, hidden units, diagram, trajectories, gradients) -----
    "net_epoch": {"en": "epoch {epoch}", "ja": "エポック {epoch}"},
    "net_epoch_stats": {"en": "epoch {epoch}: loss {loss}, accuracy {acc}",
                        "ja": "エポック {epoch}: 損失 {loss}、正解率 {acc}"},
    "prob_title": {"en": "Predicted probability of {cls} over the input plane ({data})",
                   "ja": "入力平面上の{cls}の予測確率 ({data})"},
    "prob_title_multi": {"en": "Predicted class over the input plane ({data}); paler = less sure",
                         "ja": "入力平面上の予測クラス ({data})、色が淡いほど確信度が低い"},
    "prob_colorbar": {"en": "predicted probability of {cls}", "ja": "{cls}の予測確率"},
    "class_quoted": {"en": "\u201c{name}\u201d", "ja": "\u300c{name}\u300d"},
    "boundary_05": {"en": "probability 0.5 (decision boundary)", "ja": "確率 0.5 (決定境界)"},
    "decision_boundary": {"en": "decision boundary", "ja": "決定境界"},
    "train_suffix": {"en": "{name} (train)", "ja": "{name} (訓練データ)"},
    "test_suffix": {"en": "{name} (test)", "ja": "{name} (テストデータ)"},
    "hidden_title": {"en": "What each hidden neuron computes over the input plane (epoch {epoch}, {activation})",
                     "ja": "入力平面上での各隠れニューロンの出力 (エポック {epoch}、{activation})"},
    "hidden_row": {"en": "hidden layer {layer}", "ja": "隠れ層 {layer}"},
    "hidden_unit": {"en": "unit {unit}", "ja": "ユニット {unit}"},
    "pred_title": {"en": "Predicted value over the input plane ({data})", "ja": "入力平面上の予測値 ({data})"},
    "pred_epoch_stats": {"en": "epoch {epoch}: loss {loss}, R² {r2}", "ja": "エポック {epoch}: 損失 {loss}、R² {r2}"},
    "pred_colorbar": {"en": "predicted value (points: their target)", "ja": "予測値 (点: その目的変数の値)"},
    "pred_points": {"en": "training points, filled with their target", "ja": "訓練データ (色は目的変数の値)"},
    "pred_points_test": {"en": "test points, filled with their target", "ja": "テストデータ (色は目的変数の値)"},
    "pred_output": {"en": "predicted value", "ja": "予測値"},
    "metrics_r2": {"en": "R² (1: perfect fit, 0: the mean's)", "ja": "決定係数 R² (1: 完全に一致、0: 平均値と同じ)"},
    "firstlayer_title_units": {"en": "First layer's weights as {rows} x {cols} images, one per hidden unit ({data}, {model})",
        "ja": "第1層の重みを {rows} x {cols} の画像で表示、隠れユニットごと ({data}、{model})"},
    "firstlayer_title_classes": {"en": "Weights as {rows} x {cols} images, one per class ({data}, {model})",
        "ja": "重みを {rows} x {cols} の画像で表示、クラスごと ({data}、{model})"},
    "firstlayer_colorbar": {"en": "weight (blue < 0 < orange)", "ja": "重み (青 < 0 < 橙)"},
    "hidden_more": {"en": "showing {shown} of {total} units", "ja": "{total} 個中 {shown} 個を表示"},
    "hidden_colorbar": {"en": "neuron output", "ja": "ニューロンの出力"},
    "hidden_colorbar_layer": {"en": "output of hidden layer {layer}", "ja": "隠れ層 {layer} の出力"},
    "hidden_unit_dead": {"en": "unit {unit}: dead", "ja": "ユニット {unit}: 不活性"},
    "hidden_dead_key": {"en": "dead: the same output everywhere on the plane",
                        "ja": "不活性: 平面上のどこでも出力が同じ"},
    "hidden_switch": {"en": "black line: the unit's input (pre-activation) is 0, where it switches "
                            "(output {level} there)",
                      "ja": "黒線: 活性化前の入力が 0 になる境目 (そこでの出力は {level})"},
    "hidden_none": {"en": "this model has no hidden layer", "ja": "このモデルには隠れ層がありません"},
    "network_title": {"en": "The network's weights ({data})", "ja": "ネットワークの重み ({data})"},
    "network_panel": {"en": "epoch {epoch}", "ja": "エポック {epoch}"},
    "network_legend_pos": {"en": "positive weight", "ja": "正の重み"},
    "network_legend_neg": {"en": "negative weight", "ja": "負の重み"},
    "network_legend_width": {"en": "line width ∝ |weight| (largest {max})",
                             "ja": "線の太さ ∝ |重み| (最大 {max})"},
    "network_bias_colorbar": {"en": "node colour: the node's bias", "ja": "ノードの色: そのノードのバイアス"},
    "network_legend_values": {"en": "numbers: weights (the largest that fit without overlapping)",
                              "ja": "数値: 重み (重ならない範囲で大きい順に表示)"},
    "network_input": {"en": "input", "ja": "入力"},
    "network_hidden": {"en": "hidden {layer}", "ja": "隠れ層 {layer}"},
    "network_output": {"en": "output", "ja": "出力"},
    "network_more": {"en": "+{count} more", "ja": "他 {count} 個"},
    "traj_title": {"en": "Parameters during training, layer by layer ({data})",
                   "ja": "層ごとのパラメータの学習推移 ({data})"},
    "traj_panel": {"en": "layer {layer}: {n_in} → {n_out} ({count} parameters)",
                   "ja": "層 {layer}: {n_in} → {n_out} (パラメータ {count} 個)"},
    "traj_others": {"en": "other {count} parameters", "ja": "他の {count} 個のパラメータ"},
    "traj_bias": {"en": "biases (dashed)", "ja": "バイアス (破線)"},
    "traj_drawn": {"en": " ({count} drawn)", "ja": " ({count} 個を表示)"},
    "grad_title": {"en": "Gradient norm of each layer ({data}, {activation})",
                   "ja": "各層の勾配ノルム ({data}、{activation})"},
    "grad_title_plain": {"en": "Gradient norm of each layer ({data})", "ja": "各層の勾配ノルム ({data})"},
    "grad_ylabel": {"en": "gradient norm ‖∂L/∂θ‖ (log scale)", "ja": "勾配ノルム ‖∂L/∂θ‖ (対数目盛)"},
    "grad_layer": {"en": "layer {layer} ({n_in} → {n_out})", "ja": "層 {layer} ({n_in} → {n_out})"},
    "grad_input_side": {"en": " - nearest the input", "ja": " - 入力側"},
    "grad_output_side": {"en": " - output", "ja": " - 出力側"},
    "grad_smoothed": {"en": "lines: mean over each epoch; shade: range of its steps",
                      "ja": "線: エポックごとの平均、帯: 各エポック内のステップの範囲"},
    "grad_ratio": {"en": "first / last layer: {start} at the start, {median} over the run (median)",
                   "ja": "最初の層 / 最後の層の比: 開始時 {start}、学習全体の中央値 {median}"},
    "metrics_title": {"en": "Loss and accuracy per epoch ({data})", "ja": "エポックごとの損失と正解率 ({data})"},
    "metrics_title_r2": {"en": "Loss and R² per epoch ({data})", "ja": "エポックごとの損失と決定係数 R² ({data})"},
    "metrics_loss": {"en": "loss (data term)", "ja": "損失 (データ項)"},
    "metrics_acc": {"en": "accuracy", "ja": "正解率"},
    "metrics_train": {"en": "train", "ja": "訓練データ"},
    "metrics_test": {"en": "test", "ja": "テストデータ"},
    # -- comparisons ----------------------------------------------------------------------------
    "compare_title": {"en": "Same start, different settings ({data}, {model})",
                      "ja": "同じ初期値、異なる設定 ({data}、{model})"},
    "compare_slice": {"en": "Paths on one loss slice", "ja": "共通の損失断面上の経路"},
    "compare_curves": {"en": "Loss on the training set per epoch", "ja": "エポックごとの訓練データの損失"},
    "compare_acc": {"en": "Accuracy on the training set per epoch", "ja": "エポックごとの訓練データの正解率"},
    "compare_r2": {"en": "R² on the training set per epoch", "ja": "エポックごとの訓練データの決定係数 R²"},
    "compare_loss_own": {"en": "loss (each run's own loss function)", "ja": "損失 (各実行の損失関数)"},
    "compare_surface_loss": {"en": "{loss} loss of the first run", "ja": "最初の実行の損失 ({loss})"},
    "compare_surface_same": {"en": "{loss} loss (log scale)", "ja": "損失の値 ({loss}、対数目盛)"},
    "compare_surface_same_lin": {"en": "{loss} loss", "ja": "損失の値 ({loss})"},
    "compare_fixed": {"en": "{names} fixed at the mean of the final values ({values})",
                      "ja": "{names} は最終値の平均 ({values}) に固定"},
    "compare_pca": {"en": "plane through the common start along the top 2 principal directions "
                          "of all paths ({share} of their variance)",
                    "ja": "共通の初期値を通り、全経路の主成分 2 方向で張る平面 (分散の {share})"},
    "compare_off": {"en": "paths projected; up to {dist} away from the plane",
                    "ja": "平面への投影経路 (実際は平面から最大 {dist} 離れている)"},
    "compare_grad_title": {"en": "Gradient norm of each layer, run by run ({data}, {model})",
                           "ja": "実行ごとの各層の勾配ノルム ({data}、{model})"},
    "pc_axis": {"en": "principal direction {k}", "ja": "主成分方向 {k}"},
    "diverged_suffix": {"en": " (diverged)", "ja": " (発散)"},
    # -- explain: computation graph (render.graph) --------------------------------------------------
    "graph_title_sample": {"en": "Computation graph of step {step}, sample {sample} (x = {x}, y = {y})",
                           "ja": "ステップ {step} の計算グラフ: サンプル {sample} (x = {x}, y = {y})"},
    "graph_title_batch": {"en": "Computation graph of step {step}, whole batch ({n} samples)",
                          "ja": "ステップ {step} の計算グラフ: バッチ全体 ({n} サンプル)"},
    "graph_title_sample_nostep": {"en": "Computation graph, sample {sample} (x = {x}, y = {y})",
                                  "ja": "計算グラフ: サンプル {sample} (x = {x}, y = {y})"},
    "graph_title_batch_nostep": {"en": "Computation graph, whole batch ({n} samples)",
                                 "ja": "計算グラフ: バッチ全体 ({n} サンプル)"},
    "graph_title_collapsed": {"en": "{title} — one node per layer",
                              "ja": "{title} (層ごとに1ノード)"},
    "forward_legend": {"en": "forward pass: value", "ja": "順伝播: 値"},
    "backward_legend": {"en": "backpropagation: ∂L/∂(node)", "ja": "逆伝播: ∂L/∂(ノード)"},
    "value": {"en": "value", "ja": "値"},
    "transpose": {"en": "transpose", "ja": "転置"},
    "grad": {"en": "∂L/∂", "ja": "∂L/∂"},
    "no_grad": {"en": "(no gradient)", "ja": "(勾配なし)"},
    "graph_classes": {"en": "classes {lo}..{hi}", "ja": "クラス {lo}..{hi}"},
    "graph_mode_train_dropout": {"en": "training mode: random mask", "ja": "学習モード: ランダムなマスク"},
    "graph_mode_eval_dropout": {"en": "eval mode: passes its input", "ja": "評価モード: 入力をそのまま通す"},
    "graph_mode_train_norm": {"en": "training mode: the batch's statistics",
                              "ja": "学習モード: バッチの統計量"},
    "graph_mode_eval_norm": {"en": "eval mode: running statistics", "ja": "評価モード: 移動平均の統計量"},
    "backward_returned": {"en": "backward returned", "ja": "backward の戻り値"},
    "graph_note_sample": {
        "en": "L = {loss} is the batch loss (mean over {n} samples). Rows are sample {sample}'s; "
              "a parameter's ∂L/∂ is this sample's share: the shares add up to the recorded gradient.",
        "ja": "L = {loss} はバッチの損失 ({n} サンプルの平均)。各値はサンプル {sample} のもの。パラメータの "
              "∂L/∂ はこのサンプルの寄与分で、全サンプル分を足すと記録された勾配になる。"},
    "graph_note_batch": {
        "en": "L = {loss} is the batch loss (mean over {n} samples); every ∂L/∂ is what "
              "autograd computed for this step.",
        "ja": "L = {loss} はバッチの損失 ({n} サンプルの平均)。∂L/∂ はすべて、このステップで autograd "
              "が計算した値。"},
    "graph_note_penalty": {"en": "(The run's L1/L2 term adds its own part to the weights' gradient.)",
                           "ja": "(この学習の L1/L2 正則化項の勾配は、重みの勾配に別途加わる。)"},
    "kind_input": {"en": "input", "ja": "入力"},
    "kind_target": {"en": "target", "ja": "正解ラベル"},
    "kind_param": {"en": "parameter", "ja": "パラメータ"},
    "kind_const": {"en": "constant", "ja": "定数"},
    "kind_op": {"en": "operation", "ja": "演算"},
    "kind_layer": {"en": "layer", "ja": "層"},
    # -- chain-rule table ---------------------------------------------------------------------
    "chain_title": {"en": "Chain rule of step {step} (loss {loss}, lr {lr})",
                    "ja": "ステップ {step} の連鎖律 (損失関数 {loss}、学習率 {lr})"},
    "sample": {"en": "sample", "ja": "サンプル"},
    "penalty_row": {"en": "L1/L2 term", "ja": "L1/L2 正則化項"},
    "batch_sum": {"en": "sum = gradient", "ja": "合計 = 勾配"},
    "recorded_grad": {"en": "recorded gradient", "ja": "記録された勾配"},
    "update_row": {"en": "−lr × gradient", "ja": "−学習率 × 勾配"},
    "recorded_change": {"en": "recorded change", "ja": "記録された変化量"},
    "not_plain_sgd": {"en": "(optimizer is not plain SGD: the change includes momentum or decay)",
                      "ja": "(素の SGD ではないため、変化量にはモーメンタムや減衰が含まれる)"},
    "chain_note": {
        "en": "L = (1/N) Σ ℓ(ŷ, y): every ∂L/∂ carries the 1/N of the mean, so each row is one sample's "
              "share and the shares add up to the gradient.",
        "ja": "L = (1/N) Σ ℓ(ŷ, y): ∂L/∂ はすべて平均の 1/N を含むため、各行はサンプル 1 つの寄与分で、"
              "その和が勾配になる。"},
    "chain_note_fig": {
        "en": r"$L = \frac{1}{N}\sum_k \ell(\hat{y}_k, y_k)$: every $\partial L/\partial\cdot$ carries the "
              r"$\frac{1}{N}$ of the mean, so each row is one sample's share and the shares add up to the gradient.",
        "ja": "$L = \\frac{1}{N}\\sum_k \\ell(\\hat{y}_k, y_k)$: $\\partial L/\\partial\\cdot$ "
              "はすべて平均の $\\frac{1}{N}$ を含むため、各行はサンプル 1 つの寄与分で、その和が勾配になる。"},
    # -- update vectors -----------------------------------------------------------------------
    "updates_title": {"en": "Update vectors −lr·∇L on the loss surface",
                      "ja": "損失曲面上の更新ベクトル −lr·∇L"},
    "update_arrow": {"en": "update of step t (×{scale})", "ja": "ステップ t の更新 (×{scale})"},
    "update_arrow_one": {"en": "update of step {step} (×{scale})", "ja": "ステップ {step} の更新 (×{scale})"},
    "sample_arrows": {"en": "samples' shares, head to tail (×{scale})",
                      "ja": "各サンプルの寄与 (順につなげて表示、×{scale})"},
    "sample_arrow": {"en": "sample {k}'s share (×{scale})", "ja": "サンプル {k} の寄与 (×{scale})"},
    "field_label": {"en": "−∇L on this slice (direction)", "ja": "この断面上の −∇L (向き)"},
    "updates_note": {
        "en": "Arrows are the recorded steps in ({x}, {y}), drawn ×{scale}; other parameters' "
              "changes are not shown.",
        "ja": "矢印は記録された ({x}, {y}) 方向の更新 (×{scale} で表示)。他のパラメータの変化は描いていない。"},
    "updates_fix_slice": {"en": "Each arrow was computed at its step's {names} ({steps}); the contours and the field are at {names} = {values}, so an arrow can seem to climb.",
                          "ja": "各矢印は各ステップの {names} ({steps}) で計算したもの。等高線と場は {names} = {values} のため、矢印が登っているように見えることがある。"},
    "updates_fix_slice_step": {"en": "step {step}: {values}", "ja": "ステップ {step}: {values}"},
    "updates_fix_slice_many": {"en": "Each arrow was computed at its step's values of the {count} other parameters, the contours and the field at the slice's: an arrow can seem to climb.",
                               "ja": "各矢印は他の {count} 個のパラメータの各ステップの値で計算したもの。等高線と場は断面の値のため、矢印が登っているように見えることがある。"},
    "updates_fix_batch_field": {"en": "The contours and the field −∇L are the whole training set's ({n} samples); each step used a batch of {batch}.",
                                "ja": "等高線と場 −∇L は訓練データ全体 ({n} サンプル) のもの。各ステップは {batch} サンプルのバッチを使った。"},
    "updates_fix_batch": {"en": "The contours are the whole training set's loss ({n} samples); each step used a batch of {batch}.",
                          "ja": "等高線は訓練データ全体 ({n} サンプル) の損失。各ステップは {batch} サンプルのバッチを使った。"},
    "push_title": {"en": "How each sample pushes the boundary at step {step}",
                   "ja": "ステップ {step} で各サンプルが決定境界を押す向き"},
    "boundary_before": {"en": "before step {step}", "ja": "ステップ {step} の前"},
    "boundary_after": {"en": "after the step (×{scale})", "ja": "ステップ後 (×{scale})"},
    "boundary_sample": {"en": "sample {k} alone (×{scale})", "ja": "サンプル {k} のみ (×{scale})"},
    "push_note": {
        "en": "Each dashed line is the boundary after only that sample's share of the update; "
              "updates are magnified ×{scale} to be visible.",
        "ja": "破線は、そのサンプルの寄与分だけで更新した後の境界。見やすいよう更新量を ×{scale} に拡大している。"},
    # -- gradient check -----------------------------------------------------------------------
    "gradcheck_title": {"en": "Gradient check at step {step}: backpropagation vs finite differences",
                        "ja": "ステップ {step} の勾配チェック: 誤差逆伝播 vs 数値微分"},
    "backprop": {"en": "backpropagation (float64)", "ja": "誤差逆伝播 (float64)"},
    "finite_diff": {"en": "central differences (float64, ε = {eps})",
                    "ja": "中心差分 (float64、ε = {eps})"},
    "recorded": {"en": "recorded in training (float32)", "ja": "学習時の記録 (float32)"},
    "rel_error": {"en": "relative error", "ja": "相対誤差"},
    "gradient": {"en": "gradient", "ja": "勾配"},
    # -- explain/gradcheck audit fixes (explain_fix_*) ------------------------------------------
    "explain_fix_gc_param": {"en": "param", "ja": "パラメータ"},
    "explain_fix_gc_backprop": {"en": "backprop", "ja": "誤差逆伝播"},
    "explain_fix_gc_finite": {"en": "finite diff", "ja": "数値微分"},
    "explain_fix_gc_recorded": {"en": "recorded", "ja": "学習時の記録"},
    "explain_fix_gc_rel": {"en": "rel. error", "ja": "相対誤差"},
    "explain_fix_gc_max": {"en": "max relative error = {err}", "ja": "相対誤差の最大値 = {err}"},
    "explain_fix_gc_failed": {"en": "FAILED: max relative error {err} > --tol {tol}",
                              "ja": "不合格: 相対誤差の最大値 {err} > --tol {tol}"},
    "gc_title_model": {"en": "Gradient check of {model} on a batch of {n}: backpropagation vs finite differences",
                       "ja": "{model} の勾配チェック ({n} サンプルのバッチ): 誤差逆伝播 vs 数値微分"},
    "gc_title_batch": {"en": "Gradient check on one batch: backpropagation vs finite differences",
                       "ja": "1 バッチでの勾配チェック: 誤差逆伝播 vs 数値微分"},
    "gc_title_sampled": {"en": "({checked} of {total} parameters, sampled per tensor)",
                         "ja": "(全 {total} 個のうちテンソルごとに抽出した {checked} 個)"},
    "gc_recorded_model": {"en": "the model's own backpropagation (float32)",
                          "ja": "モデル自身の誤差逆伝播 (float32)"},
    "gc_float32": {"en": "float32", "ja": "float32"},
    "gc_layer": {"en": "layer", "ja": "層"},
    "gc_checked": {"en": "checked", "ja": "確認数"},
    "gc_max_grad": {"en": "max |grad|", "ja": "|勾配| の最大"},
    "gc_sampled": {"en": "checked: a sample (seed {seed}) of up to {k} elements of each parameter tensor, "
                         "{checked} of {total} parameters",
                   "ja": "確認したのは各パラメータテンソルから最大 {k} 要素の標本 (シード {seed})、"
                         "{total} 個中 {checked} 個"},
    "gc_rows_left_out": {"en": "({shown} of {n} parameter rows shown; every checked one is in the layer table)",
                         "ja": "(パラメータ {n} 行のうち {shown} 行を表示。確認した全要素は層の表に含まれる)"},
    "explain_fix_gc_zero": {"en": "relative error exactly 0 (drawn at the axis floor)",
                            "ja": "相対誤差がちょうど 0 (軸の下端に表示)"},
    "explain_fix_shares_hidden": {
        "en": "per-sample shares are drawn only for batches\nof up to {limit} samples (this one has {n})",
        "ja": "サンプルごとの寄与は {limit} サンプル以下の\nバッチでのみ描画 (このバッチは {n} サンプル)"},
    "explain_fix_push_foot": {"en": "dotted: sample → start of its arrow\non the line before the step",
                              "ja": "点線: サンプル → 矢印の始点\n(ステップ前の境界上)"},
    # -- landscape views (render/landscape.py) ----------------------------------------------------
    "landscape_title_params": {"en": "Loss over ({x}, {y})",
        "ja": "({x}, {y}) 平面上の損失"},
    "landscape_title_follow": {"en": "Loss over ({x}, {y}), other parameters following the path",
        "ja": "({x}, {y}) 平面上の損失 (他のパラメータは学習経路に追従)"},
    "landscape_title_random": {"en": "Loss along two random filter-normalised directions (seed {seed})",
        "ja": "フィルタ正規化した 2 つのランダム方向に沿った損失 (シード {seed})"},
    "landscape_title_pca": {"en": "Loss on the plane of the path's two principal directions",
        "ja": "学習経路の主成分 2 方向の平面上の損失"},
    "landscape_title_custom": {"en": "Loss on the plane of two given directions",
        "ja": "指定した 2 方向の平面上の損失"},
    "landscape_centre": {"en": "centre: step {step}",
        "ja": "中心: ステップ {step}"},
    "landscape_fixed": {"en": "{names} fixed at step {step}",
        "ja": "{names} はステップ {step} の値に固定"},
    "landscape_fixed_many": {"en": "{count} other parameters fixed at step {step}",
        "ja": "他の {count} 個のパラメータはステップ {step} の値に固定"},
    "landscape_follow_note": {"en": "each grid point takes the other parameters from the nearest point of the path",
        "ja": "各格子点の他のパラメータは経路上の最も近い点の値"},
    "landscape_pc_axis": {"en": "{name} ({share:.1%} of the path's variance)",
        "ja": "{name} (経路の分散の {share:.1%})"},
    "landscape_dir_axis": {"en": "{name} (coefficient)",
        "ja": "{name} (係数)"},
    "landscape_random_dir": {"en": "random direction {k}",
        "ja": "ランダム方向 {k}"},
    "landscape_given_dir": {"en": "direction {k}",
        "ja": "方向 {k}"},
    "landscape_path": {"en": "path projected onto the plane",
        "ja": "平面への投影経路"},
    "landscape_start": {"en": "start",
        "ja": "開始点"},
    "landscape_end": {"en": "end",
        "ja": "最終点"},
    "landscape_loss": {"en": "loss",
        "ja": "損失の値"},
    "landscape_log_loss": {"en": "loss (log scale)",
        "ja": "損失の値 (対数目盛)"},
    "landscape_step": {"en": "step",
        "ja": "ステップ"},
    "landscape_train_loss": {"en": "loss training saw",
        "ja": "学習時の実際の損失"},
    "landscape_train_loss_batch": {"en": "loss of each step's batch (training)",
        "ja": "各ステップのバッチの損失 (学習時)"},
    "landscape_batch_loss": {"en": "batch loss of each step (what training saw; noisy)",
        "ja": "各ステップのバッチの損失 (学習時に見た値、ばらつく)"},
    "landscape_set_loss": {"en": "loss of the whole training set at each step's parameters",
        "ja": "各ステップのパラメータでの訓練データ全体の損失"},
    "landscape_ref_train": {"en": "the loss training saw", "ja": "学習時の損失"},
    "landscape_ref_set": {"en": "the whole training set's loss", "ja": "訓練データ全体の損失"},
    "landscape_plane_loss": {"en": "loss of the projected point on the plane",
        "ja": "平面上の投影点の損失"},
    "landscape_residual": {"en": "distance of the path from the plane",
        "ja": "経路と平面の距離"},
    "landscape_fidelity_title": {"en": "Does the picture show the path faithfully?",
        "ja": "この図は学習経路を忠実に表しているか"},
    "landscape_residual_note_ok": {"en": "faithful: the path lies within {rel:.1%} of its extent from the plane,\nand the loss under it is within {gap:.1%} of {ref}",
        "ja": "忠実: 平面からの距離は経路の大きさの {rel:.1%} 以内、\n"
              "経路下の損失と{ref}の差は {gap:.1%} 以内"},
    "landscape_residual_note_mostly": {"en": "mostly faithful: the loss under the path is within {tol:.0%} of the loss training saw\nat all but {off} of {rows} rows (up to {gap:.0%} there); path off the plane by up to {rel:.0%} of its extent",
        "ja": "おおむね忠実: 経路下の損失と学習時の損失の差は {rows} 点中 {off} 点を除き {tol:.0%} 以内\n"
              "(外れた点で最大 {gap:.0%})、平面からの距離は最大で経路の大きさの {rel:.0%}"},
    "landscape_residual_note_bad": {"en": "misleading: the path lies up to {rel:.0%} of its extent off the plane,\nand the loss under it differs from training's by up to {gap:.0%} of its range",
        "ja": "誤解を招く: 平面からの距離は最大で経路の大きさの {rel:.0%}、\n"
              "経路下の損失と学習時の損失の差は最大で変動幅の {gap:.0%}"},
    "landscape_line_title": {"en": "Loss along the straight line {a} → {b}",
        "ja": "{a} → {b} の直線上の損失"},
    "landscape_line_end_step": {"en": "step {step}",
        "ja": "ステップ {step}"},
    "landscape_line_end_run": {"en": "run {run} step {step}",
        "ja": "実行 {run} のステップ {step}"},
    "landscape_line_x": {"en": "t (0: {a}, 1: {b})",
        "ja": "t (0: {a}, 1: {b})"},
    "landscape_curv_title": {"en": "Curvature: largest and smallest Hessian eigenvalues along the path",
        "ja": "曲率: 学習経路上のヘッセ行列の最大・最小固有値"},
    "landscape_lambda_min": {"en": r"$\lambda_{min}$ of the Hessian",
        "ja": r"ヘッセ行列の $\lambda_{min}$"},
    "landscape_eigenvalue": {"en": "eigenvalue of the Hessian",
        "ja": "ヘッセ行列の固有値"},
    "landscape_curv_note_min": {"en": r"$\lambda_{{min}}$ = {lam:.4g}{negative}",
        "ja": r"$\lambda_{{min}}$ = {lam:.4g}{negative}"},
    "landscape_curv_negative": {"en": " (negative: the loss curves down along its eigenvector, a saddle, not a bowl)",
        "ja": " (負: その固有ベクトルの方向に損失が下に曲がる。お椀ではなく鞍点)"},
    "landscape_curv_note_top": {"en": "top {k} eigenvalues: {values}",
        "ja": "上位 {k} 個の固有値: {values}"},
    "aspect_not_to_scale": {"en": "axes not to the same scale: the window is {ratio} times longer one way than the other",
        "ja": "縦軸と横軸の縮尺は異なる (描画範囲の一方の辺が他方の {ratio} 倍)"},
    "landscape_title_hessian": {"en": "Loss on the plane of the Hessian's top two eigenvectors",
        "ja": "ヘッセ行列の上位 2 つの固有ベクトルが張る平面上の損失"},
    "landscape_hessian_axis": {"en": "Hessian eigenvector {k} (λ = {lam:.3g}, coefficient)",
        "ja": "ヘッセ行列の固有ベクトル {k} (λ = {lam:.3g}、係数)"},
    "landscape_lambda_max": {"en": "λ_max of the Hessian",
        "ja": "ヘッセ行列の最大固有値 λ_max"},
    "landscape_edge": {"en": "2 / lr = {edge:.3g} (plain GD unstable above)",
        "ja": "2 / lr = {edge:.3g} (これを超えると素の勾配降下法は不安定)"},
    "landscape_curv_note": {"en": "at step {step}: λ_max = {lam:.4g}, largest stable lr 2/λ_max = {lrmax:.4g}, lr used = {lr}",
        "ja": "ステップ {step}: λ_max = {lam:.4g}、安定な学習率の上限 2/λ_max = {lrmax:.4g}、"
              "使用した学習率 = {lr}"},
    # -- basins views (render/basins.py) ----------------------------------------------------
    "basins_loss": {"en": "Final loss (log scale)",
        "ja": "最終損失 (対数目盛)"},
    "basins_steps": {"en": "Steps to reach loss < {threshold:g}",
        "ja": "損失 < {threshold:g} に達するまでのステップ数"},
    "basins_steps_cbar": {"en": "steps ({missing}: never)",
        "ja": "ステップ数 ({missing}: 到達せず)"},
    "colour_grey": {"en": "grey", "ja": "灰色"},
    "colour_white": {"en": "white", "ja": "白"},
    "basins_loss_linear": {"en": "Final loss",
        "ja": "最終損失"},
    "basins_steps_none": {"en": "no start reached loss < {threshold:g}",
        "ja": "損失 < {threshold:g} に達した開始点はない"},
    "basins_one_cluster": {"en": "one cluster of final parameters: one minimum",
        "ja": "最終パラメータのクラスタは 1 つ: 極小は 1 つ"},
    "basins_many_clusters": {"en": "{n} clusters of final parameters: spread out, not drawn",
        "ja": "最終パラメータのクラスタは {n} 個: 散らばっているため図示しない"},
    "basins_clusters_more": {"en": "{count} smaller clusters ({n} starts)",
        "ja": "他の小さなクラスタ {count} 個 (開始点 {n} 個)"},
    "basins_outcome": {"en": "Solved (final accuracy ≥ {acc:.0%}) or stuck",
        "ja": "解けた (最終正解率 ≥ {acc:.0%}) か停滞か"},
    "basins_solved": {"en": "solved",
        "ja": "解けた"},
    "basins_stuck": {"en": "stuck",
        "ja": "停滞"},
    "basins_diverged": {"en": "diverged",
        "ja": "発散"},
    "basins_clusters": {"en": "Which minimum: clusters of final parameters",
        "ja": "どの極小に収束したか: 最終パラメータのクラスタ"},
    "basins_cluster_n": {"en": "cluster {k} ({n} starts)",
        "ja": "クラスタ {k} (開始点 {n} 個)"},
    "basins_suptitle": {"en": "Convergence map: {n} x {n} starts, {steps} steps each ({fixed})",
        "ja": "収束マップ: 開始点 {n} × {n} 個、各 {steps} ステップ ({fixed})"},
    "basins_fixed": {"en": "{names} start at {values}",
        "ja": "{names} の初期値は {values}"},
    "basins_fixed_many": {"en": "{count} other parameters at their initial values",
        "ja": "他の {count} 個のパラメータは初期値のまま"},
    "basins_start_x": {"en": "start {label}",
        "ja": "{label} の初期値"},
    "basins_run_start": {"en": "★: the run's own start",
        "ja": "★: この学習の開始点"},
    "basins_start_dir": {"en": "random direction {k} from the run's start",
        "ja": "開始点からのランダム方向 {k}"},
    "basins_random_plane": {"en": "every parameter moves along two filter-normalised random directions (seed {seed})",
        "ja": "全パラメータがフィルタ正規化した 2 つのランダム方向に沿って動く (シード {seed})"},
    # -- landscape/basins audit fixes (landscape_fix_*, basins_fix_*) ------------------------------
    "landscape_fix_held": {"en": "{names} fixed (zero in both directions)",
        "ja": "{names} は固定 (両方向の成分が 0)"},
    "landscape_fix_held_many": {"en": "{count} parameters fixed at step {step} (zero in both directions)",
        "ja": "{count} 個のパラメータはステップ {step} の値に固定 (両方向の成分が 0)"},
    # -- landscapes and lines of a model of the user's (--model package.module:factory) -----------
    "landscape_centre_named": {"en": "centre: {name}", "ja": "中心: {name}"},
    "landscape_fix_held_many_named": {"en": "{count} parameters fixed at {name}'s values (zero in both directions)",
        "ja": "{count} 個のパラメータは {name} の値に固定 (両方向の成分が 0)"},
    "landscape_buffers_fixed": {"en": "eval mode: BatchNorm statistics ({n} buffers) are {name}'s, Dropout off",
        "ja": "評価モード: BatchNorm の統計量 ({n} 個のバッファ) は {name} のもの、Dropout は無効"},
    "landscape_buffers_differ": {"en": "(each checkpoint's loss is taken with its own BatchNorm statistics, the plane's with the centre's)",
        "ja": "(各チェックポイントの損失はそれ自身の BatchNorm 統計量で、平面の損失は中心の統計量で計算)"},
    "landscape_ref_ckpt": {"en": "the data's loss at each checkpoint", "ja": "各チェックポイントでのデータ全体の損失"},
    "landscape_ckpt_loss": {"en": "loss of the whole data at each checkpoint",
        "ja": "各チェックポイントでのデータ全体の損失"},
    "landscape_ckpt_loss_own": {"en": "loss of the whole data at each checkpoint (its own BatchNorm statistics)",
        "ja": "各チェックポイントでのデータ全体の損失 (それぞれの BatchNorm 統計量で)"},
    "landscape_line_no_barrier": {"en": "barrier height 0: the loss never rises above that line",
        "ja": "障壁の高さ 0: 損失はその直線を上回らない"},
    "landscape_ckpt_axis": {"en": "checkpoint", "ja": "チェックポイント"},
    "landscape_line_chord": {"en": "straight line between the ends' losses", "ja": "両端の損失を結ぶ直線"},
    "landscape_line_barrier": {"en": "barrier height {b:.4g} at t = {t:.2f}: how far the loss rises above that line",
        "ja": "障壁の高さ {b:.4g} (t = {t:.2f}): 損失がその直線を上回る最大量"},
    "landscape_line_buffers": {"en": "eval mode: BatchNorm statistics ({n} buffers) fixed at {name}'s for every t",
        "ja": "評価モード: BatchNorm の統計量 ({n} 個のバッファ) はすべての t で {name} の値に固定"},
    "landscape_line_buffers_interp": {"en": "eval mode: BatchNorm statistics ({n} buffers) interpolated as well",
        "ja": "評価モード: BatchNorm の統計量 ({n} 個のバッファ) も補間"},
    "landscape_fix_note_construction": {"en": "on the path by construction only: each grid point borrows the other parameters\nfrom the nearest path point, so away from the path this is not one slice of the loss",
        "ja": "経路上で損失が一致するのは構成上そうなるだけ: 各格子点は他のパラメータを経路上の最も近い点から借りるため、\n"
              "経路から離れた所は損失の単一の断面ではない"},
    "landscape_fix_note_mostly": {"en": "mostly faithful: the loss under the path is within {tol:.0%} of {ref}\nat all but {off} of {rows} rows (up to {gap:.0%} there); path off the plane by up to {rel:.0%} of its extent",
        "ja": "おおむね忠実: 経路下の損失と{ref}の差は {rows} 点中 {off} 点を除き {tol:.0%} 以内\n"
              "(外れた点で最大 {gap:.0%})、平面からの距離は最大で経路の大きさの {rel:.0%}"},
    "landscape_fix_note_bad": {"en": "misleading: the path lies up to {rel:.0%} of its extent off the plane,\nand the loss under it differs from {ref} by up to {gap:.0%} of its range ({off} of {rows} rows off by > {tol:.0%})",
        "ja": "誤解を招く: 平面からの距離は最大で経路の大きさの {rel:.0%}、経路下の損失と{ref}の差は\n"
              "最大で変動幅の {gap:.0%} ({rows} 点中 {off} 点で {tol:.0%} 超)"},
    "landscape_fix_outside": {"en": "the path leaves the window: {n} of {rows} rows outside{start} (widen --range)",
        "ja": "経路が描画範囲の外に出る: {rows} 点中 {n} 点が範囲外{start} (--range を広げるとよい)"},
    "landscape_fix_outside_start": {"en": ", the start among them",
        "ja": "、開始点もその一つ"},
    "landscape_fix_collapsed": {"en": "the window is below float precision at this centre (|value| ≈ {scale:.2g}): the grid collapses to one point",
        "ja": "この中心 (|値| ≈ {scale:.2g}) では描画範囲が浮動小数点の精度より狭く、格子が 1 点に潰れる"},
    "landscape_fix_lambda_max": {"en": r"$\lambda_{max}$ of the Hessian",
        "ja": r"ヘッセ行列の $\lambda_{max}$"},
    "landscape_fix_curv_note": {"en": r"at step {step}: $\lambda_{{max}}$ = {lam:.4g}, largest stable lr 2/$\lambda_{{max}}$ = {lrmax:.4g}, lr used = {lr}",
        "ja": "ステップ {step}: $\\lambda_{{max}}$ = {lam:.4g}、安定な学習率の上限 2/$\\lambda_{{max}}$ "
              "= {lrmax:.4g}、使用した学習率 = {lr}"},
    "landscape_fix_curv_note_flat": {"en": r"at step {step}: $\lambda_{{max}}$ = {lam:.4g}: the curvature there is zero or undefined," "\nso 2/$\\lambda_{{max}}$ gives no bound (this does not mean lr = {lr} is stable)",
        "ja": "ステップ {step}: $\\lambda_{{max}}$ = {lam:.4g}、この点の曲率は 0 または未定義のため、"
              "\n2/$\\lambda_{{max}}$ は上限にならない (学習率 {lr} で安定という意味ではない)"},
    "basins_fix_outcome_full": {"en": "Solved (final accuracy 100%) or stuck",
        "ja": "解けた (最終正解率 100%) か停滞か"},
    # -- terminal summary and notes of the commands (cli_*) -----------------------------------------
    # Numbers, option names and file paths are filled in unchanged; "note:" and "wrote" stay
    # as they are in both languages (the CLI adds them), so scripts can grep for them.
    "cli_last_step": {"en": "last step's loss {loss} (step {step}, the last of {n}: {batch}{penalty}, before its update)",
        "ja": "最後のステップの損失 {loss} (全 {n} ステップ中のステップ {step}: {batch}{penalty}、"
              "更新前)"},
    "cli_batch_all": {"en": "all {n} training rows",
        "ja": "訓練データの全 {n} サンプル"},
    "cli_batch_part": {"en": "a batch of {rows} of the {n} training rows",
        "ja": "訓練データ {n} サンプル中 {rows} サンプルのバッチ"},
    "cli_penalty": {"en": ", incl. the L1/L2 penalty",
        "ja": "、L1/L2 正則化項を含む"},
    "cli_train_after": {"en": "whole training set after training: loss {loss} (data loss), accuracy {acc} ({n} rows)",
        "ja": "学習後の訓練データ全体: 損失 {loss} (データ項)、正解率 {acc} ({n} サンプル)"},
    "cli_test_after": {"en": "test set after training: loss {loss} (data loss), accuracy {acc} ({n} rows)",
        "ja": "学習後のテストデータ: 損失 {loss} (データ項)、正解率 {acc} ({n} サンプル)"},
    "cli_train_after_r2": {"en": "whole training set after training: loss {loss} (data loss), R² {acc} ({n} rows)",
        "ja": "学習後の訓練データ全体: 損失 {loss} (データ項)、決定係数 R² {acc} ({n} サンプル)"},
    "cli_test_after_r2": {"en": "test set after training: loss {loss} (data loss), R² {acc} ({n} rows)",
        "ja": "学習後のテストデータ: 損失 {loss} (データ項)、決定係数 R² {acc} ({n} サンプル)"},
    "cli_stall_head": {"en": "the gradient has vanished (|grad| = {grad}) at training accuracy {acc}: more epochs will not help.",
        "ja": "勾配が消失した (|grad| = {grad}、訓練データの正解率 {acc}): エポックを増やしても改善しない。"},
    "cli_stall_lr": {"en": " The updates saturated the outputs (every misclassified row gets probability 0 or 1, loss {loss}): "
                           "--lr {lr} is probably too large; try a smaller --lr, e.g. --lr {usual}.",
        "ja": "更新で出力が飽和した (誤分類したサンプルはすべて確率 0 か 1、損失 {loss}): --lr {lr} は大きすぎる可能性が高い。"
              "より小さい --lr を試すとよい (例: --lr {usual})。"},
    "cli_stall_start": {"en": " The outputs were saturated from the start (probability 0 or 1, loss {loss}): "
                              "try another --init (smaller values) or --init random.",
        "ja": "出力は最初から飽和していた (確率 0 か 1、損失 {loss}): 別の --init (小さい値) か --init "
              "random を試すとよい。"},
    "cli_pinned_rows": {"en": "{n} of {total} training rows stay misclassified with the output at exactly 0 or 1 "
                              "(training accuracy {acc}): in float32 such a row passes no gradient back, so more epochs "
                              "will not fix it.",
        "ja": "訓練データ {total} サンプル中 {n} サンプルが誤分類のまま出力がちょうど 0 か 1 に張り付いている "
              "(訓練データの正解率 {acc}): float32 ではそのサンプルから勾配が流れないため、エポックを増やしても直らない。"},
    "cli_pinned_start": {"en": " They were pinned from the start: try another --init (smaller values) or --init random.",
        "ja": "最初から張り付いていた: 別の --init (小さい値) か --init random を試すとよい。"},
    "cli_stall_line": {"en": " A perceptron draws one straight line and no line separates these data; "
                             "a hidden layer can bend the boundary: try --model mlp:4.",
        "ja": "パーセプトロンは直線を 1 本引くだけで、このデータはどの直線でも分けられない。隠れ層があれば境界を曲げられる: --model "
              "mlp:4 を試すとよい。"},
    "cli_stall_flat": {"en": " Training stopped at a flat point of the loss (a saddle or a poor minimum): "
                             "try another --seed, --init random or another --activation.",
        "ja": "学習は損失の平らな点 (鞍点か悪い局所解) で止まった: 別の --seed、--init random、別の --activation "
              "を試すとよい。"},
    "cli_skipped_one": {"en": "skipped the {views} view: it draws the input plane and needs 2 input features; this run has {n} "
                              "(train with two --features, or --features pca, to get it)",
        "ja": "{views} の図は省略: 入力平面を描くには入力特徴量が 2 個必要だが、この学習は {n} 個 (--features "
              "で 二つ選ぶか --features pca を使えば描ける)"},
    "cli_skipped_many": {"en": "skipped the {views} views: they draw the input plane and need 2 input features; this run has {n} "
                               "(train with two --features, or --features pca, to get them)",
        "ja": "{views} の図は省略: 入力平面を描くには入力特徴量が 2 個必要だが、この学習は {n} 個 (--features "
              "で 二つ選ぶか --features pca を使えば描ける)"},
    "cli_and": {"en": " and ", "ja": " と "},
    "cli_sep": {"en": "; ", "ja": "。"},
    "cli_step_never": {"en": "--schedule step lowers the lr every --step-size {size} epochs, but the run has {epochs} epochs, "
                             "so the lr never changes (the same run as --schedule constant); give a --step-size below "
                             "{epochs}, e.g. --step-size {suggest}",
        "ja": "--schedule step は --step-size {size} エポックごとに学習率を下げるが、この学習は {epochs} "
              "エポックしかないので学習率は一度も変わらない (--schedule constant と同じ)。{epochs} 未満の "
              "--step-size を指定するとよい (例: --step-size {suggest})"},
    "cli_applies_one": {"en": "{options} applies only to --schedule {owner}",
        "ja": "{options} は --schedule {owner} のときだけ有効"},
    "cli_applies_many": {"en": "{options} apply only to --schedule {owner}",
        "ja": "{options} は --schedule {owner} のときだけ有効"},
    "cli_ignores_one": {"en": "{parts}: this run uses --schedule {schedule}, so ignores it",
        "ja": "{parts}: この学習は --schedule {schedule} なので無視される"},
    "cli_ignores_many": {"en": "{parts}: this run uses --schedule {schedule}, so ignores them",
        "ja": "{parts}: この学習は --schedule {schedule} なので無視される"},
    "cli_data_ignores_one": {"en": "{options} applies only to the toy sets ({toys}); data set {data} has fixed rows, "
                                   "so ignores it",
        "ja": "{options} はトイデータ ({toys}) だけに有効で、データセット {data} のサンプルは固定なので無視される"},
    "cli_data_ignores_many": {"en": "{options} apply only to the toy sets ({toys}); data set {data} has fixed rows, "
                                    "so ignores them",
        "ja": "{options} はトイデータ ({toys}) だけに有効で、データセット {data} のサンプルは固定なので無視される"},
    "cli_activation_unused": {"en": "--activation {activation} sets the hidden layers' activation; the perceptron has "
                                    "none, so ignores it (try --model mlp:4)",
        "ja": "--activation {activation} は隠れ層の活性化関数を決めるが、パーセプトロンには隠れ層がないので無視される "
              "(--model mlp:4 を試すとよい)"},
    "cli_loss_ce": {"en": "the data have {k} classes and bce needs two: using --loss ce (softmax cross-entropy)",
        "ja": "データのクラスは {k} 個で、既定の --loss bce (2値交差エントロピー) は 2 クラス用のため、--loss ce "
              "(ソフトマックス交差エントロピー) を使う"},
    "cli_loss_mse": {"en": "a regression target (a number to predict): using --loss mse",
        "ja": "回帰の目的変数 (予測する数値) なので --loss mse を使う"},
    "cli_task_detected": {"en": "the target column {column!r} holds {n} distinct numbers: treated as regression "
                                "(--task classification to take them as classes)",
        "ja": "目的変数の列 {column!r} は {n} 種類の数値を含むため回帰として扱う (クラスとして扱うには --task "
              "classification)"},
    "cli_target_standardized": {"en": "the target {column!r} is standardised like the features (mean {mean}, "
                                      "standard deviation {std}): losses and predictions are in those units",
        "ja": "目的変数 {column!r} は特徴量と同じく標準化している (平均 {mean}、標準偏差 {std}): 損失と予測値はその単位"},
    "cli_batch_full": {"en": "--batch-size {batch} is above the {n} training rows, so every step takes them all "
                             "(the full batch, the same run as without --batch-size)",
        "ja": "--batch-size {batch} は訓練データの {n} サンプルより大きいので、各ステップは全サンプルを使う "
              "(フルバッチ、--batch-size なしと同じ学習)"},
    "cli_run_note": {"en": "run {labels}: {note}", "ja": "実行 {labels}: {note}"},
    "cli_col_run": {"en": "run", "ja": "実行"},
    "cli_col_loss": {"en": "train loss", "ja": "訓練損失"},
    "cli_col_acc": {"en": "accuracy", "ja": "正解率"},
    "cli_col_r2": {"en": "R²", "ja": "決定係数 R²"},
    "cli_col_steps": {"en": "steps", "ja": "ステップ数"},
    "cli_landscape": {"en": "landscape: method {method}, {k} x {k} points in {secs} s (centre: step {step})",
        "ja": "損失地形: 手法 {method}、{k} x {k} 点、{secs} 秒 (中心: ステップ {step})"},
    "cli_fixed": {"en": "fixed: {shown}{more}{why}", "ja": "固定: {shown}{more}{why}"},
    "cli_fixed_more": {"en": " and {n} more", "ja": " ほか {n} 個"},
    "cli_fixed_why": {"en": " (zero in both directions)", "ja": " (両方向の成分が 0)"},
    "cli_explained": {"en": "explained variance of the path: PC1 {pc1}, PC2 {pc2}",
        "ja": "経路の分散の寄与率: PC1 {pc1}、PC2 {pc2}"},
    "cli_path": {"en": "path: {verdict}", "ja": "経路: {verdict}"},
    "cli_verdict_construction": {"en": "the loss under the path is the loss training saw by construction only: each grid point "
                                       "borrows the other parameters from the nearest path point, so away from the path the "
                                       "surface is not one slice of the loss",
        "ja": "経路下の損失が学習時の損失と一致するのは構成上そうなるだけ: 各格子点は他のパラメータを経路上の最も近い点から借りるため、"
              "経路から離れた所の曲面は損失の単一の断面ではない"},
    "cli_verdict_facts": {"en": "largest distance from the plane {dist} ({rel} of the path's extent); loss under the path differs "
                                "from {ref} by up to {gap} of its range ({off} of {rows} rows off by more "
                                "than {tol}): {word}",
        "ja": "平面からの最大距離 {dist} (経路の大きさの {rel})。経路下の損失と{ref}の差は最大で変動幅の {gap} "
              "({rows} 点中 {off} 点で {tol} 超): {word}"},
    "cli_verdict_faithful": {"en": "faithful", "ja": "忠実"},
    "cli_verdict_mostly": {"en": "mostly faithful", "ja": "おおむね忠実"},
    "cli_verdict_misleading": {"en": "misleading", "ja": "誤解を招く"},
    "cli_outside": {"en": "the path leaves the plotted window: {n} of {rows} rows outside{start} (widen --range)",
        "ja": "経路が描画範囲の外に出る: {rows} 点中 {n} 点が範囲外{start} (--range を広げるとよい)"},
    "cli_outside_start": {"en": ", the start among them", "ja": "、開始点もその一つ"},
    "cli_collapsed": {"en": "the window is below float precision at this centre (|value| ~ {scale}): the grid collapses to one point",
        "ja": "この中心 (|値| ~ {scale}) では描画範囲が浮動小数点の精度より狭く、格子が 1 点に潰れる"},
    "cli_curvature": {"en": "curvature at step {step} ({method}): lambda_max {lam}, largest stable lr 2/lambda_max {lrmax}, "
                            "lr used {lr}{stable}",
        "ja": "ステップ {step} の曲率 ({method}): lambda_max {lam}、安定な学習率の上限 2/lambda_max "
              "{lrmax}、使用した学習率 {lr}{stable}"},
    "cli_curv_flat": {"en": " (the curvature there is zero or undefined, so 2/lambda_max bounds nothing: this does not mean "
                            "the lr is stable)",
        "ja": " (この点の曲率は 0 または未定義のため 2/lambda_max は上限にならない: 学習率が安定という意味ではない)"},
    "cli_curv_not_plain": {"en": " (the bound is plain gradient descent's; this run used {opt})",
        "ja": " (この上限は素の勾配降下法に対するもので、この学習は {opt} を使用)"},
    "cli_curv_stable": {"en": " (below the bound: stable)", "ja": " (上限未満: 安定)"},
    "cli_curv_unstable": {"en": " (above the bound: unstable for plain GD)",
        "ja": " (上限超: 素の勾配降下法では不安定)"},
    "cli_curv_spectrum": {"en": "smallest Hessian eigenvalue at step {step}: lambda_min {lam}{negative}{top}",
        "ja": "ステップ {step} のヘッセ行列の最小固有値: lambda_min {lam}{negative}{top}"},
    "cli_curv_negative": {"en": " (negative: the loss curves down along its eigenvector here, a saddle rather than "
                                "a minimum)",
        "ja": " (負: この点ではその固有ベクトルの方向に損失が下に曲がる。極小ではなく鞍点)"},
    "cli_curv_top": {"en": "; top {k} eigenvalues {values}", "ja": "、上位 {k} 個の固有値 {values}"},
    "cli_hessian_plane": {"en": "the plane's directions: the Hessian's top two eigenvectors at step {step} "
                                "(eigenvalues {l1}, {l2})",
        "ja": "平面の方向: ステップ {step} のヘッセ行列の上位 2 つの固有ベクトル (固有値 {l1}、{l2})"},
    "cli_basins": {"en": "basins: {k} x {k} starts x {steps} steps in {secs} s",
        "ja": "収束マップ: 開始点 {k} x {k} 個 × 各 {steps} ステップ、{secs} 秒"},
    "cli_basins_counts": {"en": "solved {solved}/{n}, reached loss < {threshold}: {reached}/{n}, diverged {diverged}, "
                                "clusters of final parameters: {clusters}{many}",
        "ja": "解けた {solved}/{n}、損失 < {threshold} に到達 {reached}/{n}、発散 {diverged}、"
              "最終パラメータのクラスタ: {clusters}{many}"},
    "cli_basins_many": {"en": " (more than {limit}: the finals spread out rather than fall into a few minima; not drawn)",
        "ja": " ({limit} 個超: 最終値は少数の極小に集まらず散らばっている。図には描かない)"},
    "cli_explain_step": {"en": "step {step}: loss {loss} on {n} samples",
        "ja": "ステップ {step}: 損失 {loss} ({n} サンプル)"},
    "cli_explain_model_train": {"en": "{model}: loss {loss} on a batch of {n} samples, the model in training mode",
                                "ja": "{model}: 損失 {loss} ({n} サンプルのバッチ、モデルは学習モード)"},
    "cli_explain_model_eval": {"en": "{model}: loss {loss} on a batch of {n} samples, the model in eval mode",
                               "ja": "{model}: 損失 {loss} ({n} サンプルのバッチ、モデルは評価モード)"},
    "cli_explain_batch_cut": {"en": "the first {n} of the first batch's {total} samples (--batch-size sets how many)",
                              "ja": "最初のバッチ {total} サンプルのうち先頭の {n} サンプル (--batch-size で変更可)"},
    "cli_col_node": {"en": "node", "ja": "ノード"},
    "cli_col_kind": {"en": "kind", "ja": "種類"},
    "cli_col_value": {"en": "value", "ja": "値"},
    "cli_col_grad": {"en": "dL/d(node)", "ja": "dL/d(ノード)"},
    "cli_curv_method_exact": {"en": "exact", "ja": "厳密なヘッセ行列"},
    "cli_curv_method_power": {"en": "power iteration", "ja": "べき乗法"},
    "cli_user_landscape": {"en": "landscape of {model}: method {method}, {k} x {k} points in {secs} s (centre: {name})",
        "ja": "{model} の損失地形: 手法 {method}、{k} x {k} 点、{secs} 秒 (中心: {name})"},
    "cli_user_curvature": {"en": "Hessian at {name} ({method}): lambda_max {lam} (2/lambda_max {lrmax}), "
                                 "lambda_min {low}{negative}{top}",
        "ja": "{name} のヘッセ行列 ({method}): lambda_max {lam} (2/lambda_max {lrmax})、lambda_min {low}{negative}{top}"},
    "cli_interpolate": {"en": "loss along {a} → {b} ({n} points, distance {dist}): {la} at t = 0, {lb} at t = 1, "
                              "highest {top} at t = {tt}; barrier height {barrier}",
        "ja": "{a} → {b} の直線上の損失 ({n} 点、距離 {dist}): t = 0 で {la}、t = 1 で {lb}、t = {tt} で最大 {top}、"
              "障壁の高さ {barrier}"},
    "cli_interp_buffers": {"en": "BatchNorm statistics are {a}'s all along the line; with its own, {b} has loss {own}",
        "ja": "BatchNorm の統計量は直線全体で {a} のもの。{b} 自身の統計量では損失 {own}"},
    # -- names of the things a run is made of, shown in titles and labels (see ``name_label``) ----
    "name_loss_bce": {"en": "BCE", "ja": "2値交差エントロピー"},
    "name_loss_ce": {"en": "cross-entropy", "ja": "交差エントロピー"},
    "name_loss_mse": {"en": "MSE", "ja": "平均二乗誤差"},
    "name_model_perceptron": {"en": "perceptron", "ja": "パーセプトロン"},
}


from .i18n_page import PAGE as _PAGE  # noqa: E402  (the page's texts, same catalogue)

CATALOGUE.update(_PAGE)

from .i18n_animate import ANIMATE as _ANIMATE  # noqa: E402  (the animations' texts, same catalogue)

CATALOGUE.update(_ANIMATE)

from .i18n_live import LIVE as _LIVE  # noqa: E402  (the live playground's texts, same catalogue)

CATALOGUE.update(_LIVE)

from .i18n_export import EXPORT as _EXPORT  # noqa: E402  (the playground's export panel, same catalogue)

CATALOGUE.update(_EXPORT)

from .i18n_recording import RECORDING as _RECORDING  # noqa: E402  (the views of a recording, same catalogue)

CATALOGUE.update(_RECORDING)

def resolve_lang(lang: str | None = None) -> str:
    """``"en"`` or ``"ja"``: ``lang`` itself, or (when None) the locale's language.

    The locale is read from LC_ALL, LC_MESSAGES, then LANG (the first that is set), as
    gettext does; one starting with ``ja`` gives Japanese, anything else English.
    """
    if lang is None:
        for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
            value = os.environ.get(var)
            if value:
                return "ja" if value.lower().startswith("ja") else "en"
        return "en"
    key = str(lang).strip().lower()
    if key not in LANGS:
        raise BackpropvizError(f"unknown language {lang!r}; choose one of: {', '.join(LANGS)}")
    return key


def name_label(kind: str, name, lang: str) -> str:
    """How a figure or summary line names a run's ``kind`` ("loss", "model") called ``name``: the
    catalogue's word where it has one (``name_<kind>_<name>``), else ``name`` as the user typed it
    (an MLP spec such as ``mlp:4``).

    >>> name_label("loss", "bce", "ja"), name_label("model", "mlp:4", "ja")
    ('2値交差エントロピー', 'mlp:4')
    """
    key = f"name_{kind}_{str(name).lower()}"
    return t(key, lang) if key in CATALOGUE else str(name)


_ZERO_TEXT = re.compile(r"[0.]*0[0.]*(?:e[+-]?\d+)?%?")


def unsigned_zero(text: str) -> str:
    """``text`` (a formatted number) without the sign of a zero: a value that rounds to zero at
    the digits shown reads ``0.00``, never ``-0.00`` (nor ``−0``, ``-0%``).

    >>> unsigned_zero("-0.00"), unsigned_zero("−0"), unsigned_zero("-0.01"), unsigned_zero("-0e+00")
    ('0.00', '0', '-0.01', '0e+00')
    """
    body = text.strip()
    if body[:1] in ("-", "−") and _ZERO_TEXT.fullmatch(body[1:]):
        return text.replace(body[0], "", 1)
    return text


class _Number(float):
    """A float whose formatted text has no signed zero (see :func:`unsigned_zero`)."""

    def __format__(self, spec: str) -> str:
        return unsigned_zero(float.__format__(self, spec))


def t(key: str, lang: str, **fmt) -> str:
    """The catalogue's text for ``key`` in ``lang``, with ``{fields}`` filled from ``fmt``
    (numbers never read as a signed zero: ``{v:.2f}`` of -1e-7 is ``0.00``)."""
    if not fmt:
        return CATALOGUE[key][lang]
    fmt = {k: _Number(v) if isinstance(v, float) or type(v).__name__.startswith("float") else v
           for k, v in fmt.items()}
    return CATALOGUE[key][lang].format(**fmt)
