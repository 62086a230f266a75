"""The formulas of CLAIMS.md C11 and C14 as a reader types them (Unicode) or pastes them (LaTeX).

Shared by the parser and verifier tests; heads (2, 2), H1 is layer index 0.
"""

R1 = "(Id ⊗ W_E + Σ_{h∈H1} A^h ⊗ W_OV^h W_E)"
C11_LHS = "(Id⊗W_U)(Id + Σ_{h∈H2} A^h⊗W_OV^h)(Id + Σ_{h∈H1} A^h⊗W_OV^h)(Id⊗W_E)"
C11_RHS = (
    "Id⊗W_U W_E + Σ_{h∈H1∪H2} A^h⊗(W_U W_OV^h W_E) "
    "+ Σ_{h1∈H1, h2∈H2} (A^{h2}A^{h1}) ⊗ (W_U W_OV^{h2} W_OV^{h1} W_E)"
)
C11_LATEX = (
    r"\mathrm{Id} \otimes W_{U} W_{E} + \sum_{h \in H_1 \cup H_2} A^{h} \otimes \left(W_{U} W_{OV}^{h} W_{E}\right)"
    r" + \sum_{h_1 \in H_1, h_2 \in H_2} \left(A^{h_2} A^{h_1}\right) \otimes \left(W_{U} W_{OV}^{h_2} W_{OV}^{h_1} W_{E}\right)"
)
C14_LHS = f"W_QK^{{1,0}} ∘ ({R1}, {R1})"
C14_RHS = (
    "Id⊗Id⊗(W_Eᵀ W_QK^{1,0} W_E) + Σ_{hq∈H1} A^{hq}⊗Id⊗(W_Eᵀ W_OV^{hq}ᵀ W_QK^{1,0} W_E) "
    "+ Σ_{hk∈H1} Id⊗A^{hk}⊗(W_Eᵀ W_QK^{1,0} W_OV^{hk} W_E) "
    "+ Σ_{hq,hk∈H1} A^{hq}⊗A^{hk}⊗(W_Eᵀ W_OV^{hq}ᵀ W_QK^{1,0} W_OV^{hk} W_E)"
)
C14_LATEX = (
    r"\mathrm{Id} \otimes \mathrm{Id} \otimes \left({W_{E}}^{\top} W_{QK}^{1,0} W_{E}\right)"
    r" + \sum_{h_q \in H_1} A^{h_q} \otimes \mathrm{Id} \otimes \left(W_{E}^{\top} {W_{OV}^{h_q}}^{\top} W_{QK}^{1,0} W_{E}\right)"
    r" + \sum_{h_k \in H_1} \mathrm{Id} \otimes A^{h_k} \otimes \left(W_{E}^{\top} W_{QK}^{1,0} W_{OV}^{h_k} W_{E}\right)"
    r" + \sum_{h_q, h_k \in H_1} A^{h_q} \otimes A^{h_k} \otimes \left(W_{E}^{\top} {W_{OV}^{h_q}}^{\top} W_{QK}^{1,0} W_{OV}^{h_k} W_{E}\right)"
)
